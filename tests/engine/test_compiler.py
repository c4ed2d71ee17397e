"""The compiler: the exact durable_rules JSON of every operator, and every form it must never emit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.engine.catalogue import FieldType
from service.engine.compiler import (
    MAX_KEYS,
    MAX_MATCHES,
    MAX_RULES,
    MAX_TESTS,
    CompiledRuleSet,
    Guard,
    assert_safe,
    compile_rules,
)
from service.engine.condition import TRUE, Const, size
from service.engine.nodes import Expr
from service.engine.parser import parse_expression
from service.engine.problems import ExprIssue
from service.engine.sources import Source
from service.engine.typecheck import FieldSpec, Scope, check_expression
from tests.engine.test_expressions import SCOPE


def checked(text: str, scope: Scope = SCOPE) -> Expr:
    parsed = parse_expression(text)
    assert not isinstance(parsed, ExprIssue), parsed
    kind, issues = check_expression(parsed, scope)
    assert kind is FieldType.BOOL and not issues, issues
    return parsed


def compile_many(texts: list[str], scope: Scope = SCOPE) -> CompiledRuleSet:
    return compile_rules("test", scope, [(f"R{i}", checked(t, scope)) for i, t in enumerate(texts)])


def _name(src: Source) -> str:
    return src.spec.name if src.spec is not None else f"derived:{src.index}"


def readable(node: Any, sources: tuple[Source, ...]) -> Any:
    """Engine JSON with the fact keys f0, f1... replaced by the field names they stand for."""
    if isinstance(node, list):
        return [readable(n, sources) for n in node]
    if isinstance(node, dict):
        return {(_name(sources[int(k[1:])]) if k.startswith("f") else k): readable(v, sources)
                for k, v in node.items()}
    return node


def emitted(text: str) -> Any:
    """The engine condition of one rule, with readable keys."""
    compiled = compile_many([text])
    (chunk,) = compiled.chunks
    rule = chunk.definition["r0"]
    assert isinstance(rule, dict)
    return readable(rule["all"][0]["m"], compiled.sources)


@pytest.mark.parametrize(("text", "engine"), [
    ("a.n == 5", {"a.n": 5}),
    ("a.n != 5", {"$neq": {"a.n": 5}}),
    ("a.n < 5", {"$lt": {"a.n": 5}}),
    ("a.n <= 5", {"$lte": {"a.n": 5}}),
    ("a.n > 5", {"$gt": {"a.n": 5}}),
    ("a.n >= 5", {"$gte": {"a.n": 5}}),
    ("5 < a.n", {"$gt": {"a.n": 5}}),
    ("-5 >= a.n", {"$lte": {"a.n": -5}}),
    ("a.n > 1 and a.n < 9", {"$and": [{"$gt": {"a.n": 1}}, {"$lt": {"a.n": 9}}]}),
    ("a.n < 1 or a.n > 9", {"$or": [{"$lt": {"a.n": 1}}, {"$gt": {"a.n": 9}}]}),
    ("a.n > 1 and (a.b or a.n == 0)", {"$and": [{"$gt": {"a.n": 1}}, {"$or": [{"a.b": 1}, {"a.n": 0}]}]}),
])
def test_comparisons_and_connectives(text: str, engine: Any) -> None:
    assert emitted(text) == engine


@pytest.mark.parametrize(("text", "engine"), [
    ("not a.n > 5", {"$lte": {"a.n": 5}}),
    ("not a.n == 5", {"$neq": {"a.n": 5}}),
    ("not not a.n < 5", {"$lt": {"a.n": 5}}),
    ("not (a.n > 1 and a.b)", {"$or": [{"$lte": {"a.n": 1}}, {"a.b": 0}]}),
    ("not (a.n < 1 or a.n >= 9)", {"$and": [{"$gte": {"a.n": 1}}, {"$lt": {"a.n": 9}}]}),
])
def test_not_is_pushed_down_by_de_morgan(text: str, engine: Any) -> None:
    assert emitted(text) == engine


@pytest.mark.parametrize(("text", "engine"), [
    ("a.b", {"a.b": 1}),
    ("not a.b", {"a.b": 0}),
    ("a.b == false", {"a.b": 0}),
    ("a.b != true", {"$neq": {"a.b": 1}}),
])
def test_yes_no_fields_are_one_and_zero(text: str, engine: Any) -> None:
    assert emitted(text) == engine


def test_text_of_a_closed_field_becomes_its_code() -> None:
    assert emitted("a.t in ['X', 'Y']") == {"$or": [{"a.t": 1}, {"a.t": 2}]}
    assert emitted("a.t not in ['Y']") == {"$neq": {"a.t": 2}}


def test_text_of_an_open_field_gets_codes_and_any_other_text_is_zero() -> None:
    compiled = compile_many(["a.s == 'hello'", "a.s != 'bye'"])
    (src,) = compiled.sources
    assert src.codes == {"hello": 1, "bye": 2}
    assert [src.encode({"a.s": value}, {}) for value in ("hello", "bye", "other", "")] == [1, 2, 0, 0]


def test_money_is_sent_in_fen() -> None:
    assert emitted("a.m >= 100.50 CNY") == {"$gte": {"a.m": 10050}}


def test_decimals_are_sent_scaled_to_integers_never_with_an_exponent() -> None:
    assert emitted("a.d >= 0.00001") == {"$gte": {"a.d": 10_000}}
    assert emitted("a.d > 1") == {"$gt": {"a.d": 1_000_000_000}}
    compiled = compile_many(["a.d >= 0.00001"])
    from decimal import Decimal

    assert compiled.sources[0].encode({"a.d": Decimal("0.000010000")}, {}) == 10_000


@pytest.mark.parametrize(("text", "engine"), [
    ("a.n > 17.5", {"$gte": {"a.n": 18}}),
    ("a.n >= 17.5", {"$gte": {"a.n": 18}}),
    ("a.n < 17.5", {"$lte": {"a.n": 17}}),
    ("a.n <= -17.5", {"$lte": {"a.n": -18}}),
])
def test_whole_number_field_against_a_fraction(text: str, engine: Any) -> None:
    assert emitted(text) == engine


@pytest.mark.parametrize(("text", "always"), [
    ("a.n == 17.5", False), ("a.n != 17.5", True), ("true", True), ("false", False), ("1 == 1", True),
    ("'a' == 'b'", False), ("a.n in []", False), ("a.n not in []", True), ("1 in [1, 2]", True),
    ("a.d < 5_000_000_000", True), ("a.d > 5_000_000_000", False),  # beyond any decimal a fact can hold
])
def test_constant_conditions_never_reach_the_engine(text: str, always: bool) -> None:
    compiled = compile_many([text])
    assert compiled.chunks == ()
    assert compiled.rules[0].cond == Const(always)
    assert compiled.always == ((0,) if always else ())


@pytest.mark.parametrize("text", [
    "a.n > a.d",  # field against field
    "a.s == a.t",
    "a.m / 3 > 10 CNY",  # arithmetic
    "a.n + 1 == 2",
    "a.s in lists.names",  # a list file
    "a.n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]",  # a long inline list
])
def test_anything_but_field_against_constant_becomes_a_derived_key(text: str) -> None:
    compiled = compile_many([text])
    (src,) = compiled.sources
    assert src.spec is None and src.expr is not None
    assert readable(compiled.chunks[0].definition["r0"], compiled.sources) == \
        {"all": [{"m": {"derived:0": 1}}]}


def test_negated_derived_key_tests_for_zero() -> None:
    assert emitted("not a.n > a.d") == {"derived:0": 0}


def test_identical_derived_predicates_share_one_key() -> None:
    compiled = compile_many(["a.n > a.d", "a.n > a.d and a.b", "not (a.n > a.d)"])
    assert len([s for s in compiled.sources if s.spec is None]) == 1


def test_fields_read_include_those_inside_derived_keys() -> None:
    compiled = compile_many(["a.m / a.n > 1 CNY", "a.b"])
    assert {f.name for f in compiled.fields} == {"a.m", "a.n", "a.b"}


# -- the safe subset ----------------------------------------------------------------------------------

@pytest.mark.parametrize("condition", [
    {"$nex": {"f0": 1}},
    {"$ex": {"f0": 1}},
    {"$mt": {"f0": "a.*"}},
    {"$imt": {"f0": "a.*"}},
    {"$gt": {"f0": 1.5}},
    {"$gt": {"f0": 1e-05}},
    {"f0": "text"},
    {"f0": True},
    {"$gt": {"f0": {"$l": {"$m": "x"}}}},
    {"$add": {"$l": {"f0": 1}, "$r": 2}},
    {"$gt": {"f0": 2**63}},
    {"applicant.age": 3},
    {"$and": []},
    {"$lt": {"f0": 1, "f1": 2}},
])
def test_unsafe_engine_forms_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        assert_safe({"r0": {"all": [{"m": condition}]}})


@pytest.mark.parametrize("rule", [
    {"all": [{"m": {"f0": 1}}, {"n": {"f1": 1}}]},  # two facts: joins and cross-fact references
    {"any": [{"m": {"f0": 1}}]},
    {"all": [{"m": {"f0": 1}}], "pri": 1},
])
def test_only_one_single_fact_condition_per_rule(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        assert_safe({"r0": rule})


def test_every_chunk_of_the_starter_bundle_is_in_the_safe_subset() -> None:
    from service.engine.loader import analyse
    from tests.engine.conftest import RULES

    spec, problems = analyse(RULES)
    assert spec is not None and problems == []
    sets = [spec.scorecard.compiled, *(f.compiled for f in spec.rule_files.values())]
    for compiled in sets:
        for chunk in compiled.chunks:
            assert_safe(chunk.definition)
            text = chunk.definition_json()
            assert "e-" not in text and "." not in text and "$nex" not in text and "$mt" not in text


# -- splitting into engine rulesets ---------------------------------------------------------------------

def test_many_rules_that_may_all_match_are_split_into_chunks() -> None:
    compiled = compile_many([f"a.n >= {-i}" for i in range(300)])
    assert [len(c.rule_indices) for c in compiled.chunks] == [48] * 6 + [12]
    assert sorted(i for c in compiled.chunks for i in c.rule_indices) == list(range(300))


def test_rules_that_require_different_values_of_one_field_share_a_chunk() -> None:
    # a fact has one value of a.t, so at most 40 of these 80 rules can match it at once
    both = [f"a.t == 'X' and a.n >= {-i}" for i in range(40)] + [f"a.t == 'Y' and a.n >= {-i}" for i in range(40)]
    assert [len(c.rule_indices) for c in compile_many(both).chunks] == [80]
    # the 10 rules without a guard go first, into a chunk every fact meets, filled up to 48 possible matches
    with_unguarded = both + [f"a.n >= {-i}" for i in range(10)]
    assert [len(c.rule_indices) for c in compile_many(with_unguarded).chunks] == [48, 42]
    in_lists = [f"a.t in ['X', 'Y'] and a.n >= {-i}" for i in range(49)]
    assert [len(c.rule_indices) for c in compile_many(in_lists).chunks] == [48, 1]


def _source(compiled: CompiledRuleSet, name: str) -> Source:
    return next(s for s in compiled.sources if s.spec is not None and s.spec.name == name)


def test_guarded_rules_are_grouped_so_that_a_fact_meets_only_the_chunks_of_its_values() -> None:
    # bundle order interleaves the guards; rules without a guard go first, then each guard's rules together
    texts = [text for i in range(60) for text in (f"a.t == 'X' and a.n >= {-i}", f"a.t == 'Y' and a.n >= {-i}")]
    compiled = compile_many([*texts, "a.b and a.n > 5", "a.n > 7"])
    t, b = _source(compiled, "a.t"), _source(compiled, "a.b")
    x, y = t.codes["X"], t.codes["Y"]
    assert [(c.guard, len(c.rule_indices)) for c in compiled.chunks] == [
        (None, 48),  # the rule without a guard and 47 X rules: every fact meets this chunk
        ((Guard(t.index, frozenset({x, y})),), 61),  # 13 X and 48 Y rules: at most 48 match one fact
        ((Guard(t.index, frozenset({y})), Guard(b.index, frozenset({1}))), 13),  # 12 Y rules and a.b's
    ]


def test_a_rule_is_guarded_by_the_key_that_guards_most_rules() -> None:
    by_t = compile_many(["a.t == 'X' and a.b", "a.t == 'Y' and a.n > 1", "a.t == 'X' or a.t == 'Y'"])
    t = _source(by_t, "a.t")
    assert [c.guard for c in by_t.chunks] == [(Guard(t.index, frozenset(t.codes.values())),)]
    by_b = compile_many(["a.t == 'X' and a.b", "a.b and a.n > 1", "a.b and a.n > 2"])
    assert [c.guard for c in by_b.chunks] == [(Guard(_source(by_b, "a.b").index, frozenset({1})),)]


def test_many_distinct_conditions_are_split_below_the_engine_limit() -> None:
    compiled = compile_many([f"a.n == {i} or a.n == {i + 1000} or a.n == {i + 2000}" for i in range(600)])
    assert all(sum(size(compiled.rules[i].cond).tests for i in c.rule_indices) <= MAX_TESTS for c in compiled.chunks)
    assert all(len(c.rule_indices) <= MAX_RULES for c in compiled.chunks)


def test_many_fields_are_split_below_the_engine_limit() -> None:
    fields = {f"w.f{i}": FieldSpec(f"w.f{i}", FieldType.INT) for i in range(400)}
    scope = Scope("wide rules", fields)
    compiled = compile_many([f"w.f{i} > 0 and w.f{i + 200} > 0" for i in range(200)], scope)
    assert all(len(c.source_indices) <= MAX_KEYS for c in compiled.chunks)
    assert len(compiled.chunks) > 1


def test_a_rule_with_too_many_matching_branches_is_decided_in_python() -> None:
    # each true branch of an `or` is one engine match: 70 of them would exceed the engine's 64
    condition = " or ".join(f"a.n > {-i}" for i in range(70))
    compiled = compile_many([condition])
    assert size(compiled.rules[0].cond).matches == 1
    derived = [s.index for s in compiled.sources if s.spec is None]
    assert readable(compiled.chunks[0].definition["r0"], compiled.sources) == \
        {"all": [{"m": {f"derived:{derived[0]}": 1}}]}


def test_match_count_multiplies_through_and() -> None:
    compiled = compile_many(["(a.n > 1 or a.n > 2) and (a.d > 1 or a.d > 2 or a.d > 3)", "a.t in ['X', 'Y']"])
    assert [size(r.cond).matches for r in compiled.rules] == [6, 1]
    assert MAX_MATCHES < 64


def test_always_true_rules_fire_without_the_engine() -> None:
    compiled = compile_many(["a.n > 1", "true"])
    assert compiled.always == (1,)
    assert compiled.rules[1].cond == TRUE
    assert [c.rule_indices for c in compiled.chunks] == [(0,)]
    assert json.loads(compiled.chunks[0].definition_json()) == compiled.chunks[0].definition
