"""Differential test: random conditions over a random small catalogue and random facts, evaluated by the
compiled durable_rules rulesets (in a child process, so that a crash or hang is a failure, not a dead test
run) and by the plain-Python oracle. They must agree on every rule for every fact."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.engine.catalogue import FieldType
from service.engine.oracle import truth
from service.engine.typecheck import Scope
from tests.engine.conftest import ROOT
from tests.engine.engine_worker import checked, normalized, scope_of

I, D, M, B, S = FieldType.INT, FieldType.DECIMAL, FieldType.MONEY, FieldType.BOOL, FieldType.STR  # noqa: E741
CLOSED = ("A", "B", "C")
LIST_VALUES = ["A", "zz"]
TIMEOUT = 20.0


class EngineCrashed(AssertionError):
    pass


class Worker:
    """The engine_worker child process; restarted after it dies."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.engine.engine_worker"], cwd=ROOT, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
        return self.proc

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self.start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        if not line:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                raise EngineCrashed(f"the engine hung for {TIMEOUT}s on {json.dumps(request)[:3000]}")
            raise EngineCrashed(f"the engine process died (exit {proc.returncode}) on {json.dumps(request)[:3000]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.stop()


# -- generators ---------------------------------------------------------------------------------------

Field = tuple[str, FieldType, tuple[str, ...]]

_LITERALS = {
    I: ["0", "1", "-1", "2", "3", "-3", "1.5", "-2.5", "999_999_999_999_999"],
    D: ["0", "0.5", "-1.25", "2", "1.5", "0.000000001", "999999999.5", "-0.5"],
    M: ["0 CNY", "1 CNY", "-0.5 CNY", "2.25 CNY", "1.50 CNY", "-3 CNY"],
    S: ["'A'", "'B'", "''", "'zz'", "'\\'q\"'"],
    B: ["true", "false"],
}
_VALUES: dict[FieldType, list[Any]] = {
    I: [-3, -2, -1, 0, 1, 2, 3, 10**15 - 1, -(10**15 - 1)],
    D: ["0", "0.5", "-1.25", "2", "1.5", "0.000000001", "0.4999999996", "-999999999.5", "3.75"],
    M: [-300, -100, -50, 0, 50, 100, 150, 225, 300],
    S: ["A", "B", "", "zz", "'q\"", "é"],
}


def of(fields: list[Field], *types: FieldType) -> list[Field]:
    return [f for f in fields if f[1] in types]


@st.composite
def number(draw: st.DrawFn, fields: list[Field], money: bool, depth: int) -> str:
    """An expression of the number family (INT/DECIMAL) or of money."""
    own = of(fields, M) if money else of(fields, I, D)
    options = ["literal"] + (["field"] * 3 if own else []) + (["calc"] if depth > 0 else [])
    kind = draw(st.sampled_from(options))
    if kind == "field":
        return draw(st.sampled_from(own))[0]
    if kind == "literal":
        return draw(st.sampled_from(_LITERALS[M] if money else _LITERALS[I] + _LITERALS[D]))
    if not money:
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        if op == "/" and of(fields, M) and draw(st.booleans()):
            return f"({draw(number(fields, True, depth - 1))} / {draw(number(fields, True, depth - 1))})"
        return f"({draw(number(fields, False, depth - 1))} {op} {draw(number(fields, False, depth - 1))})"
    form = draw(st.sampled_from(["+", "-", "*", "/", "*left"]))
    if form in ("+", "-"):
        return f"({draw(number(fields, True, depth - 1))} {form} {draw(number(fields, True, depth - 1))})"
    if form == "*left":
        return f"({draw(number(fields, False, depth - 1))} * {draw(number(fields, True, depth - 1))})"
    return f"({draw(number(fields, True, depth - 1))} {form} {draw(number(fields, False, depth - 1))})"


def literal_for(field: Field) -> st.SearchStrategy[str]:
    _, kind, allowed = field
    if kind is S and allowed:
        return st.sampled_from([f"'{v}'" for v in allowed])
    if kind is I:
        return st.sampled_from(_LITERALS[I] + _LITERALS[D])
    return st.sampled_from(_LITERALS[kind])


@st.composite
def condition(draw: st.DrawFn, fields: list[Field], depth: int) -> str:
    forms = ["compare", "compare", "member", "const"]
    if depth > 0:
        forms += ["not", "not", "and", "or", "and"]
    if of(fields, B):
        forms += ["flag"]
    if of(fields, S):
        forms += ["list"]
    if len(fields) > 1:
        forms += ["fields"]
    forms += ["calc"]
    form = draw(st.sampled_from(forms))
    if form == "const":
        return draw(st.sampled_from(["true", "false", "1 == 1", "'a' != 'a'"]))
    if form == "flag":
        return draw(st.sampled_from(of(fields, B)))[0]
    if form == "not":
        return f"not ({draw(condition(fields, depth - 1))})"
    if form in ("and", "or"):
        parts = draw(st.lists(condition(fields, depth - 1), min_size=2, max_size=4))
        return "(" + f" {form} ".join(parts) + ")"
    if form == "list":
        name = draw(st.sampled_from(of(fields, S)))[0]
        return f"{name} {draw(st.sampled_from(['in', 'not in']))} lists.L"
    field = draw(st.sampled_from(fields))
    name, kind = field[0], field[1]
    equality_only = kind in (S, B)
    if form == "member":
        items = draw(st.lists(literal_for(field), min_size=0, max_size=20))
        return f"{name} {draw(st.sampled_from(['in', 'not in']))} [{', '.join(items)}]"
    if form == "fields":
        partners = of(fields, I, D) if kind in (I, D) else of(fields, kind)
        other = draw(st.sampled_from(partners))[0]
        op = draw(st.sampled_from(["==", "!="] if equality_only else ["==", "!=", "<", "<=", ">", ">="]))
        return f"{name} {op} {other}"
    if form == "calc":
        money = draw(st.booleans()) and bool(of(fields, M))
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{draw(number(fields, money, 2))} {op} {draw(number(fields, money, 1))}"
    op = draw(st.sampled_from(["==", "!="] if equality_only else ["==", "!=", "<", "<=", ">", ">="]))
    value = draw(literal_for(field))
    return f"{value} {op} {name}" if draw(st.booleans()) else f"{name} {op} {value}"


@st.composite
def catalogue(draw: st.DrawFn) -> list[Field]:
    kinds = draw(st.lists(st.sampled_from([I, D, M, B, S]), min_size=1, max_size=6))
    return [(f"g.f{i}", k, CLOSED if k is S and draw(st.booleans()) else ()) for i, k in enumerate(kinds)]


def fact_value(field: Field) -> st.SearchStrategy[list[Any]]:
    _, kind, allowed = field
    if kind is B:
        return st.booleans().map(lambda v: ["bool", v])
    if kind is S:
        return st.sampled_from(list(allowed) or _VALUES[S]).map(lambda v: ["str", v])
    if kind is D:
        return st.sampled_from(_VALUES[D]).map(lambda v: ["decimal", v])
    return st.sampled_from(_VALUES[kind]).map(lambda v: ["int", v])


@st.composite
def facts(draw: st.DrawFn, fields: list[Field]) -> dict[str, list[Any]]:
    return {f[0]: draw(fact_value(f)) for f in fields}


# -- the test -------------------------------------------------------------------------------------------

def checker_accepts(text: str, scope: Scope) -> bool:
    try:
        checked(text, scope)
    except ValueError:
        return False
    return True


def oracle_fired(request: dict[str, Any]) -> list[list[int]]:
    scope = scope_of(request)
    exprs = [checked(text, scope) for text in request["conditions"]]
    return [[i for i, e in enumerate(exprs) if truth(e, f, scope.lists)] for f in normalized(request, scope)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_compiled_engine_agrees_with_the_python_oracle(worker: Worker, data: st.DataObject) -> None:
    fields = data.draw(catalogue(), label="catalogue")
    conditions = data.draw(st.lists(condition(fields, 3), min_size=3, max_size=60), label="conditions")
    cases = data.draw(st.lists(facts(fields), min_size=4, max_size=10), label="facts")
    request = {"fields": [[n, k.value, list(a)] for n, k, a in fields], "lists": {"L": LIST_VALUES},
               "conditions": conditions, "facts": cases}
    # the checker refuses a few generated conditions (a division by 0): those never reach the engine
    request["conditions"] = [c for c in conditions if checker_accepts(c, scope_of(request))]
    expected = oracle_fired(request)
    assert worker.ask(request) == {"fired": expected}


def test_many_rules_that_all_match_agree_with_the_oracle(worker: Worker) -> None:
    fields: list[Field] = [("g.f0", I, ()), ("g.f1", D, ())]
    request = {"fields": [[n, k.value, list(a)] for n, k, a in fields], "lists": {"L": LIST_VALUES},
               "conditions": [f"g.f0 >= {-i} or g.f1 > {i}" for i in range(400)],
               "facts": [{"g.f0": ["int", 3], "g.f1": ["decimal", "500"]},
                         {"g.f0": ["int", -200], "g.f1": ["decimal", "0"]}]}
    assert worker.ask(request) == {"fired": oracle_fired(request)}


def test_every_operator_negated_or_not_agrees_on_a_grid(worker: Worker) -> None:
    fields: list[Field] = [("g.i", I, ()), ("g.d", D, ()), ("g.m", M, ()), ("g.s", S, ()), ("g.b", B, ())]
    literals = {"g.i": ["-1", "0", "1", "0.5"], "g.d": ["-1", "0", "0.5", "1"], "g.m": ["-0.01 CNY", "0 CNY", "1 CNY"]}
    conditions = []
    for name, values in literals.items():
        for op in ("==", "!=", "<", "<=", ">", ">="):
            for value in values:
                conditions += [f"{name} {op} {value}", f"not {name} {op} {value}", f"{value} {op} {name}"]
    conditions += ["g.s == 'A'", "not g.s == 'A'", "g.s != ''", "g.b", "not g.b", "g.b == false", "g.b != true",
                   "g.s in lists.L", "g.s not in lists.L", "not g.s in ['A', 'zz']", "g.i in [0, 1]"]
    grid = [{"g.i": ["int", i], "g.d": ["decimal", d], "g.m": ["int", m], "g.s": ["str", s], "g.b": ["bool", b]}
            for i, d, m, s, b in zip([-1, 0, 1, 2, -2], ["-1", "0", "0.5", "1", "0.000000001"], [-1, 0, 1, 100, 99],
                                     ["A", "", "zz", "B", "'"], [True, False, True, False, True], strict=True)]
    request = {"fields": [[n, k.value, list(a)] for n, k, a in fields], "lists": {"L": LIST_VALUES},
               "conditions": conditions, "facts": grid}
    assert worker.ask(request) == {"fired": oracle_fired(request)}


def test_a_dead_engine_process_is_reported_as_a_failure() -> None:
    w = Worker()
    proc = w.start()
    proc.kill()
    proc.wait()
    w.proc = proc  # dead, and not restarted for this one request
    w.start = lambda: proc  # type: ignore[method-assign]
    with pytest.raises(EngineCrashed, match="died"):
        w.ask({"fields": [], "lists": {}, "conditions": [], "facts": []})

