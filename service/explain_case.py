"""`decisiond rules explain DIR --input case.json`: every rule, whether it matched one input, and if not,
which part of its condition failed. The input is a rule-test case (docs/rules.md), `expect` optional."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO, cast

import yaml

from service.app.pseudonyms import Pseudonyms
from service.app.usecases import DecisionApp
from service.domain.money import format_fen_as_yuan
from service.engine.bundle import RuleBundle
from service.engine.catalogue import RuleSetKind
from service.engine.model import BinMatch, FiredRule
from service.rule_tests import CALLS, FixedClock, call_case, load_bundle_or_report, seed_case
from service.storage import open_store

TITLES = {
    RuleSetKind.ELIGIBILITY: "eligibility rules",
    RuleSetKind.DRAWDOWN: "drawdown rules",
    RuleSetKind.FRAUD: "fraud rules",
}


class _Recorder:
    """Stands in for the bundle during the call, remembering the facts each rule set was asked about."""

    def __init__(self, bundle: RuleBundle) -> None:
        self._bundle = bundle
        self.asked: dict[RuleSetKind, Mapping[str, object]] = {}
        self.bins: list[BinMatch] = []

    def current(self) -> RuleBundle:
        return cast(RuleBundle, self)

    def evaluate(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[FiredRule]:
        self.asked[kind] = dict(facts)
        return self._bundle.evaluate(kind, facts)

    def score_bins(self, facts: Mapping[str, object]) -> list[BinMatch]:
        self.bins = self._bundle.score_bins(facts)
        return self.bins

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bundle, name)


def explain(directory: Path, case_file: Path, out: TextIO) -> int:
    """Print the explanation; 1 (with a message, never a traceback) when the bundle or the input is bad."""
    bundle = load_bundle_or_report(directory, out)
    if bundle is None:
        return 1
    try:
        spec = _read_case(case_file)
        recorder = _Recorder(bundle)
        result = _run(recorder, spec)
    except (ValueError, KeyError, TypeError, yaml.YAMLError, OSError) as error:
        print(f"{case_file}: cannot explain this input: {error}", file=out)
        return 1
    finally:
        bundle.close()
    _print(out, bundle, recorder, spec, result)
    return 0


def _read_case(case_file: Path) -> dict[str, Any]:
    spec = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    if isinstance(spec, dict) and isinstance(spec.get("cases"), list) and len(spec["cases"]) == 1:
        spec = spec["cases"][0]
    if not isinstance(spec, dict) or spec.get("call") not in CALLS:
        raise ValueError(f"the input is one case with 'call:' set to one of {', '.join(CALLS)} (docs/rules.md)")
    return spec


def _run(recorder: _Recorder, spec: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory(prefix="rules-explain-") as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'explain.db'}")
        try:
            app = DecisionApp(store, recorder, FixedClock())
            seed_case(store, Pseudonyms(store.pseudonym_key()), app.user_key("explain"), spec)
            return call_case(app, spec, "explain")
        finally:
            store.close()


def _print(out: TextIO, bundle: RuleBundle, recorder: _Recorder, spec: dict[str, Any], result: Any) -> None:
    print(f"{spec['call']} under rule bundle {bundle.version}", file=out)
    outcome = getattr(getattr(result, "outcome", None), "value", None)
    summary = [f"outcome {outcome}"] if outcome else []
    if hasattr(result, "score"):
        summary.append(f"score {result.score}")
    reasons = [r.code for r in getattr(result, "reasons", ())]
    summary.append(f"reasons {', '.join(reasons) or '(none)'}")
    print("  " + "; ".join(summary), file=out)
    if recorder.bins or spec["call"] in {"ScoreUser", "GrantLimit"}:
        print("\nscorecard (the first matching bin of each characteristic counts)", file=out)
        matched = {m.characteristic_id: m for m in recorder.bins}
        for characteristic in bundle.scorecard.characteristics:
            match = matched.get(characteristic.characteristic_id)
            if match is None:
                print(f"  {characteristic.characteristic_id:<12} no bin matched: 0 points", file=out)
            else:
                print(
                    f"  {characteristic.characteristic_id:<12} {match.bin_rule_id}: {match.points} of "
                    f"{characteristic.best_points} points ({characteristic.description})",
                    file=out,
                )
    for kind, facts in recorder.asked.items():
        print(f"\n{TITLES[kind]}", file=out)
        for trace in bundle.explain(kind, facts):
            if trace.matched:
                print(f"  {trace.rule_id:<10} MATCHED", file=out)
            else:
                print(f"  {trace.rule_id:<10} no: {'; '.join(trace.failed)}", file=out)
    if spec["call"] == "GrantLimit" and "ELIGIBILITY" not in {k.name for k in recorder.asked}:
        print("\n(eligibility and limits were not reached)", file=out)
    if hasattr(result, "credit_limit"):
        print(f"\nlimit granted: {format_fen_as_yuan(result.credit_limit)} CNY", file=out)
