"""Rule evaluation alone: evaluations per second of fraud rule sets of 50, 200 and 500 rules.

Each set is generated from the bundle's own fraud rules (rules/fraud.yaml): rule i is a copy of real rule
i mod 6 with its own id, its numeric thresholds moved and an amount floor of its own, so that no two rules
are the same condition. The
set replaces fraud.yaml in a copy of the bundle, which is loaded with service.engine.bundle.load_bundle,
and RuleBundle.evaluate(RuleSetKind.FRAUD, facts) is timed call by call over varied facts (drawdowns,
transfers, logins; devices seen and new; mule counterparties; other countries). An untimed pass over the same
facts counts the engine rulesets (chunks) each fact is asserted into: a fact skips the chunks whose rules all
require other values of their guard (service/engine/compiler.py).

    python -m bench.rule_eval --sizes 50 200 500 --seconds 2
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import durable_rules_engine
import yaml

from bench.stats import percentile
from service.engine.bundle import load_bundle
from service.engine.catalogue import FieldType, RuleSetKind, fields_for

ROOT = Path(__file__).resolve().parents[1]
_NUMBER = re.compile(r"(?<![\w'.-])(\d+(?:\.\d+)?)(?![\w'.-])")
FACT_VARIETY = 2_000


def _moved(number: str, step: int) -> str:
    """A threshold shifted by a small amount that grows with step (decimals stay decimals)."""
    if "." in number:
        return str((Decimal(number) + Decimal(step % 40) / 100).normalize())
    value = int(number)
    return str(value + step * max(1, value // 100))


def generate_rules(templates: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` rules modelled on the templates, each with its own id and thresholds."""
    rules = []
    for index in range(count):
        template = templates[index % len(templates)]
        step = index // len(templates)
        rule = copy.deepcopy(template)  # no shared objects: the rule files forbid YAML aliases
        rule["id"] = f"FRD-G{index:04d}"
        when = _NUMBER.sub(lambda m, s=step: _moved(m.group(1), s), template["when"])  # type: ignore[misc]
        # rules without thresholds (a country mismatch, a listed counterparty) get an amount floor of their own
        rule["when"] = f"({when}) and transaction.amount >= {step * 100} CNY" if step else when
        rules.append(rule)
    return rules


def bundle_with_fraud_rules(source: Path, target: Path, count: int) -> Path:
    """A copy of the bundle at `source` whose fraud.yaml holds `count` generated rules."""
    shutil.copytree(source, target)
    templates = yaml.safe_load((source / "fraud.yaml").read_text())["rules"]
    (target / "fraud.yaml").write_text(yaml.safe_dump({"rules": generate_rules(templates, count)}, sort_keys=False))
    return target


def _value(name: str, kind: FieldType, allowed: tuple[str, ...], rng: random.Random) -> object:
    """One fact value, distributed as the workload's events are: mostly ordinary, sometimes suspicious."""
    special: dict[str, object] = {
        "transaction.type": rng.choice(("DRAWDOWN", "DRAWDOWN", "TRANSFER_OUT", "LOGIN", "LOGIN", "PAYMENT",
                                        "PASSWORD_CHANGE")),
        "transaction.counterparty_id": rng.choice(("",) * 6 + ("acct-7781", "acct-1203", "acct-99", "CP-MULE-0002")),
        "transaction.amount": int(min(6_000_000, rng.lognormvariate(12.2, 1.0))),
        "transaction.share_of_available_limit": Decimal(rng.randrange(0, 60)) / 100,
        "channel.country": rng.choice(("CN",) * 18 + ("US", "")),
        "line.residence_country": "CN",
        "line.status": rng.choice(("ACTIVE",) * 19 + ("FROZEN",)),
        "features.drawdowns_last_hour": rng.choice((0,) * 12 + (1, 1, 2, 3, 4)),
        "features.credential_changed_last_24h": rng.random() < 0.03,
        "features.device_seen_before": rng.random() < 0.9,
        "features.counterparty_new_last_24h": rng.random() < 0.2,
        "features.transfer_out_ratio_last_hour": Decimal(rng.choice((0, 0, 0, 0, 10, 50, 95, 120))) / 100,
    }
    if name in special:
        return special[name]
    if allowed:
        return rng.choice(allowed)
    if kind is FieldType.BOOL:
        return rng.random() < 0.1
    if kind is FieldType.MONEY:
        return rng.randrange(0, 5_000_000)
    if kind is FieldType.INT:
        return rng.randrange(0, 3)
    if kind is FieldType.DECIMAL:
        return Decimal(rng.randrange(0, 100)) / 100
    return f"v{rng.randrange(1000)}"


def varied_facts(count: int, seed: int = 7) -> list[dict[str, object]]:
    """Facts of the fraud scope, every field present, values spread over what the workload sends."""
    rng = random.Random(seed)
    fields = fields_for(RuleSetKind.FRAUD).values()
    return [{f.name: _value(f.name, f.type, f.allowed_values, rng) for f in fields} for _ in range(count)]


def engine_calls_per_evaluation(bundle: Any, facts: Sequence[dict[str, object]]) -> float:
    """The mean number of engine rulesets a fact is asserted into, counted by wrapping the engine's call."""
    calls = 0
    assert_fact = durable_rules_engine.assert_fact

    def counting(handle: int, text: str) -> Any:
        nonlocal calls
        calls += 1
        return assert_fact(handle, text)

    durable_rules_engine.assert_fact = counting
    try:
        for fact in facts:
            bundle.evaluate(RuleSetKind.FRAUD, fact)
    finally:
        durable_rules_engine.assert_fact = assert_fact
    return calls / len(facts)


def time_evaluations(bundle_dir: Path, facts: Sequence[dict[str, object]], seconds: float) -> dict[str, Any]:
    """Load the bundle, warm it up, then time evaluate() call by call for `seconds`."""
    started = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    load_s = time.perf_counter() - started
    try:
        for fact in facts[:200]:
            bundle.evaluate(RuleSetKind.FRAUD, fact)
        timings: list[float] = []
        fired = 0
        deadline = time.perf_counter() + seconds
        index = 0
        while time.perf_counter() < deadline:
            fact = facts[index % len(facts)]
            index += 1
            began = time.perf_counter_ns()
            result = bundle.evaluate(RuleSetKind.FRAUD, fact)
            timings.append((time.perf_counter_ns() - began) / 1000)
            fired += len(result)
        engine_calls = engine_calls_per_evaluation(bundle, facts)
    finally:
        bundle.close()
    timings.sort()
    mean = sum(timings) / len(timings)
    return {
        "rules": len(bundle.rule_ids(RuleSetKind.FRAUD)),
        "load_s": round(load_s, 2),
        "evaluations": len(timings),
        "median_us": round(percentile(timings, 0.5), 1),
        "p99_us": round(percentile(timings, 0.99), 1),
        "mean_us": round(mean, 1),
        "evaluations_per_s": round(1e6 / mean),
        "rules_fired_per_evaluation": round(fired / len(timings), 2),
        "engine_calls_per_evaluation": round(engine_calls, 2),
    }


def measure(sizes: Sequence[int], seconds: float, source: Path) -> dict[str, Any]:
    facts = varied_facts(FACT_VARIETY)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as scratch:
        for size in sizes:
            bundle_dir = bundle_with_fraud_rules(source, Path(scratch) / f"fraud-{size}", size)
            out[str(size)] = time_evaluations(bundle_dir, facts, seconds)
    return {"sizes": out, "facts": FACT_VARIETY, "source": str(source)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rule_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per size")
    parser.add_argument("--rules", type=Path, default=ROOT / "rules", help="the bundle to model the rules on")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.sizes, args.seconds, args.rules.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
