"""Evaluating through the engine: fact validation, every measured durable_rules hazard, threads, close().

Tests that would crash or hang the process if a safeguard broke run in a subprocess (run_isolated), so a
regression fails that test instead of killing the test run.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import durable_rules_engine
import pytest

from service.domain.errors import InvalidRequest, NoRuleBundle
from service.engine.bundle import RuleBundle, load_bundle
from service.engine.catalogue import FieldType, RuleSetKind
from service.engine.compiler import MAX_KEYS
from service.engine.errors import InvalidFact
from service.engine.runtime import EngineRuleSet, reference_fired
from service.engine.typecheck import FieldSpec, Scope
from tests.engine import facts as F
from tests.engine.conftest import BundleCopy, eligibility_fired_isolated, run_isolated
from tests.engine.test_compiler import compile_many

FRAUD = RuleSetKind.FRAUD
ELIGIBILITY = RuleSetKind.ELIGIBILITY


def fired(bundle: RuleBundle, kind: RuleSetKind, facts: dict[str, object]) -> list[str]:
    got = [f.rule_id for f in bundle.evaluate(kind, facts)]
    assert got == [f.rule_id for f in bundle.evaluate_reference(kind, facts)]
    return got


# -- fact validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "description"), [
    ("transaction.share_of_available_limit", float("inf"), "must be a finite number"),
    ("transaction.share_of_available_limit", float("nan"), "must be a finite number"),
    ("transaction.share_of_available_limit", Decimal("NaN"), "must be a finite number"),
    ("transaction.share_of_available_limit", 1e308, "is out of range (must stay below 1,000,000,000)"),
    ("transaction.share_of_available_limit", Decimal("999999999.9999999999"),
     "is out of range (must stay below 1,000,000,000)"),
    ("transaction.amount", 10**15, "is out of range (at most 15 digits)"),
    ("transaction.amount", 100.0, "must be an amount in fen (a whole number)"),
    ("transaction.amount", Decimal(100), "must be an amount in fen (a whole number)"),
    ("features.drawdowns_last_hour", True, "must be a number, not true/false"),
    ("features.device_seen_before", 1, "must be true or false"),
    ("transaction.type", "TRANSFER", "must be one of LOGIN, PASSWORD_CHANGE, PHONE_CHANGE, DRAWDOWN, "
     "TRANSFER_OUT, REPAYMENT, PAYMENT"),
    ("transaction.counterparty_id", "x" * 1025, "must be at most 1024 characters"),
    ("transaction.counterparty_id", 12345, "must be text"),
    ("transaction.counterparty_id", None, "is required"),
])
def test_bad_fact_values_are_refused_before_the_engine_naming_the_field(
        starter: RuleBundle, name: str, value: object, description: str) -> None:
    with pytest.raises(InvalidFact) as raised:
        starter.evaluate(FRAUD, F.transaction(**{name.replace(".", "__"): value}))
    assert (raised.value.field, raised.value.description) == (name, description)
    assert isinstance(raised.value, InvalidRequest)
    assert fired(starter, FRAUD, F.transaction()) == []  # nothing was left behind in the engine
    assert all(engine.held_facts() == 0 for engine in starter._engines.values())


def test_decimals_are_rounded_to_nine_places_before_the_rules_see_them(starter: RuleBundle) -> None:
    facts = F.transaction(transaction__share_of_available_limit=Decimal("0.4999999996"),
                          features__credential_changed_last_24h=True)
    assert fired(starter, FRAUD, facts) == ["FRD-002"]
    facts["transaction.share_of_available_limit"] = Decimal("0.4999999994")
    assert fired(starter, FRAUD, facts) == []


def test_a_float_ratio_is_accepted_exactly_as_written(starter: RuleBundle) -> None:
    facts = F.transaction(transaction__share_of_available_limit=0.5, features__credential_changed_last_24h=True)
    assert fired(starter, FRAUD, facts) == ["FRD-002"]


# -- attributes --------------------------------------------------------------------------------------

@pytest.fixture
def attribute_bundle(bundle_copy: BundleCopy) -> RuleBundle:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.credit_inquiries_6m > 10 or applicant.attributes.employment_months < 3")
    return load_bundle(bundle_copy.dir)


@pytest.mark.parametrize(("value", "matches"), [(None, True), (2, True), (3.0, False), (Decimal("12"), False)])
def test_attributes_take_their_default_and_accept_integral_numbers(
        attribute_bundle: RuleBundle, value: object, matches: bool) -> None:
    facts = F.eligible(**({} if value is None else {"applicant.attributes.employment_months": value}))
    assert (fired(attribute_bundle, ELIGIBILITY, facts) == ["ELG-006"]) is matches
    attribute_bundle.close()


@pytest.mark.parametrize(("value", "description"), [
    (2.5, "must be a whole number, not 2.5"),
    (True, "must be a number, not true/false"),
    ("3", "must be a whole number"),
    (float("inf"), "must be a finite number"),
])
def test_bad_attribute_values_name_the_attribute(attribute_bundle: RuleBundle, value: object,
                                                 description: str) -> None:
    with pytest.raises(InvalidFact) as raised:
        attribute_bundle.evaluate(ELIGIBILITY, F.eligible(**{"applicant.attributes.employment_months": value}))
    assert (raised.value.field, raised.value.description) == ("applicant.attributes.employment_months", description)
    attribute_bundle.close()


def test_a_decision_records_whole_number_and_money_attributes_as_integers_and_only_declared_ones(
        bundle_copy: BundleCopy) -> None:
    """A Struct carries every number as a float; the ledger keeps money (and whole numbers) as the integers the
    rules saw, never as a float, and nothing the bundle does not declare."""
    bundle_copy.replace("bundle.yaml", "  employment_months:\n", "  other_income:\n    type: money\n"
                        "    default: 0 CNY\n    description: Other verified yearly income\n  employment_months:\n")
    bundle = load_bundle(bundle_copy.dir)
    sent = {"other_income": 1234567.0, "employment_months": 12.0, "full_name": "Alice Wang"}
    bundle.check_attributes(sent)
    recorded = bundle.recorded_attributes(sent)
    assert recorded == {"other_income": 1234567, "employment_months": 12}
    assert {type(v) for v in recorded.values()} == {int}
    assert bundle.recorded_attributes({"other_income": None}) == {"other_income": None}  # null: the default applied
    bundle.close()


# -- hazards measured in issue 2, section 5 ---------------------------------------------------------------

def test_string_compared_with_number_is_refused_at_load(bundle_copy: BundleCopy) -> None:
    # the engine would silently match "abc" > 500; the checker never lets such a rule through
    bundle_copy.replace("fraud.yaml", "transaction.counterparty_id in lists.mule_counterparties",
                        "transaction.counterparty_id > 500")
    with pytest.raises(Exception) as raised:
        load_bundle(bundle_copy.dir)
    assert [p.code for p in raised.value.problems] == ["R104"]  # type: ignore[attr-defined]


def test_division_by_zero_makes_the_comparison_false_not_a_crash(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.annual_income / applicant.credit_inquiries_6m > 1000 CNY")
    bundle_copy.replace("eligibility.yaml", "when: applicant.max_days_overdue_24m > 90",
                        "when: not (applicant.annual_income / applicant.credit_inquiries_6m > 1000 CNY)")
    bundle = load_bundle(bundle_copy.dir)
    assert fired(bundle, ELIGIBILITY, F.eligible(applicant__credit_inquiries_6m=0)) == ["ELG-005"]
    assert fired(bundle, ELIGIBILITY, F.eligible(applicant__credit_inquiries_6m=2)) == ["ELG-006"]
    bundle.close()


@pytest.mark.parametrize("condition", [
    "applicant.age > 120 and applicant.monthly_spend_avg not in []",
    "applicant.age > 120 and applicant.monthly_spend_avg == applicant.monthly_spend_avg",
    "applicant.monthly_spend_avg not in []",
])
def test_a_part_the_compiler_folds_to_a_constant_is_still_read_by_the_reference_and_explain(
        bundle_copy: BundleCopy, condition: str) -> None:
    """`x not in []` and `x == x` leave no engine key; their field was then left out of the facts, and the plain-Python
    reading (rules test, explain, the differential test) failed with a KeyError on a bundle that passed the check."""
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10", f"when: {condition}")
    bundle = load_bundle(bundle_copy.dir)
    old = F.eligible(applicant__age=130)
    young = F.eligible(applicant__age=30)
    always = "and" not in condition
    assert "ELG-006" in fired(bundle, ELIGIBILITY, old)
    assert ("ELG-006" in fired(bundle, ELIGIBILITY, young)) is always
    traces = {trace.rule_id: trace for trace in bundle.explain(ELIGIBILITY, young)}
    assert traces["ELG-006"].matched is always
    bundle.close()


def test_a_cap_that_divides_by_zero_is_zero(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "applicant.annual_income / 3", "applicant.annual_income / applicant.age")
    bundle = load_bundle(bundle_copy.dir)
    assert [c.amount for c in bundle.caps(F.eligible(applicant__age=0))] == [0, 300_000_00]
    # 120,000 CNY / 7, rounded down to the fen
    assert [c.amount for c in bundle.caps(F.eligible(applicant__age=7))] == [1_714_285, 300_000_00]
    bundle.close()


def _big_bundle(bundle_copy: BundleCopy, conditions: list[str]) -> None:
    rules = "\n".join(
        f"  - id: ELG-{i:04d}\n    description: generated\n    when: {c}\n"
        f"    then: {{outcome: REVIEW, reason: EXCESSIVE_INQUIRIES}}"
        for i, c in enumerate(conditions))
    bundle_copy.write("eligibility.yaml", "rules:\n" + rules + "\n")


def _evaluate_isolated(bundle_copy: BundleCopy, cases: list[dict[str, object]]) -> list[int]:
    return [len(fired) for fired in eligibility_fired_isolated(bundle_copy, cases)]


def test_three_hundred_rules_that_all_match_still_evaluate(bundle_copy: BundleCopy) -> None:
    # one engine ruleset fails (error 303) beyond 64 simultaneous matches
    _big_bundle(bundle_copy, [f"applicant.age >= {-i}" for i in range(300)])
    assert _evaluate_isolated(bundle_copy, [{}, {"applicant__age": -150}]) == [300, 150]


def test_three_hundred_rules_sharing_one_identical_condition(bundle_copy: BundleCopy) -> None:
    # 257 identical conditions in one engine ruleset crash the process (error 108 / segfault)
    _big_bundle(bundle_copy, ["applicant.credit_inquiries_6m > 10"] * 300)
    assert _evaluate_isolated(bundle_copy, [{}, {"applicant__credit_inquiries_6m": 11}]) == [0, 300]


def test_six_hundred_distinct_conditions_do_not_hang(bundle_copy: BundleCopy) -> None:
    # 512 distinct conditions under one node hang the engine forever
    _big_bundle(bundle_copy, [f"applicant.verified_contacts in [{i}, {i + 1000}]" for i in range(600)])
    cases: list[dict[str, object]] = [{"applicant__verified_contacts": 599}, {"applicant__verified_contacts": 1599}, {}]
    assert _evaluate_isolated(bundle_copy, cases) == [1, 1, 1]


def test_rules_guarded_by_different_values_never_exceed_the_match_limit(bundle_copy: BundleCopy) -> None:
    conditions = [f"applicant.country == '{c}' and applicant.age >= {-i}" for c in ("CN", "HK", "SG")
                  for i in range(60)]
    _big_bundle(bundle_copy, conditions)
    assert _evaluate_isolated(bundle_copy, [{}, {"applicant__country": "HK"}, {"applicant__country": "US"}]) == \
        [60, 60, 0]


def test_rules_guarded_by_different_keys_that_all_hold_never_exceed_the_match_limit(bundle_copy: BundleCopy) -> None:
    # 80 rules that one fact can all match, 40 guarded by each of two keys and each starting with a test of
    # its own: counted per key (40 and 40) they would share one engine ruleset and fail (error 303 beyond 64
    # simultaneous matches); counted together they are split
    conditions = [f"applicant.age >= {-i} and applicant.country == 'CN'" for i in range(40)] + \
        [f"applicant.age >= {-100 - i} and applicant.real_name_verified" for i in range(40)]
    _big_bundle(bundle_copy, conditions)
    cases: list[dict[str, object]] = [{}, {"applicant__country": "US"}, {"applicant__real_name_verified": False}]
    assert _evaluate_isolated(bundle_copy, cases) == [80, 40, 40]


def test_a_rule_whose_many_or_branches_all_hold(bundle_copy: BundleCopy) -> None:
    _big_bundle(bundle_copy, [" or ".join(f"applicant.age > {-i}" for i in range(100))] * 3)
    assert _evaluate_isolated(bundle_copy, [{}, {"applicant__age": -200}]) == [3, 0]


def test_rules_are_reported_in_bundle_order_across_chunks(bundle_copy: BundleCopy) -> None:
    conditions = [f"applicant.age >= {-i}" if i % 2 else "applicant.credit_inquiries_6m >= 0" for i in range(120)]
    _big_bundle(bundle_copy, conditions)
    bundle = load_bundle(bundle_copy.dir)
    assert fired(bundle, ELIGIBILITY, F.eligible()) == [f"ELG-{i:04d}" for i in range(120)]
    bundle.close()


def test_the_engine_holds_no_fact_between_evaluations(starter: RuleBundle) -> None:
    for _ in range(50):
        fired(starter, FRAUD, F.transaction(features__drawdowns_last_hour=5))
    assert sum(engine.held_facts() for engine in starter._engines.values()) == 0


def test_threads_evaluating_at_once_get_the_answers_of_the_oracle(starter: RuleBundle) -> None:
    cases = [F.transaction(features__drawdowns_last_hour=n % 5, channel__country=["CN", "HK", ""][n % 3],
                           transaction__counterparty_id=["CP-MULE-0001", "x"][n % 2],
                           features__device_seen_before=n % 7 == 0, transaction__amount=n * 1_000_00)
             for n in range(40)]
    expected = [[f.rule_id for f in starter.evaluate_reference(FRAUD, c)] for c in cases]
    wrong: list[int] = []

    def work() -> None:
        for _ in range(10):
            for n, case in enumerate(cases):
                if [f.rule_id for f in starter.evaluate(FRAUD, case)] != expected[n]:
                    wrong.append(n)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_closed_bundle_refuses_to_evaluate() -> None:
    from tests.engine.conftest import RULES

    bundle = load_bundle(RULES)
    bundle.close()
    with pytest.raises(NoRuleBundle):
        bundle.evaluate(FRAUD, F.transaction())
    with pytest.raises(NoRuleBundle):
        bundle.score_bins(F.APPLICANT)
    bundle.close()  # closing twice is harmless


def test_scorecard_and_limits_are_not_evaluated_rule_by_rule(starter: RuleBundle) -> None:
    with pytest.raises(ValueError):
        starter.evaluate(RuleSetKind.LIMITS, F.eligible())


def test_engine_names_are_unique_per_load() -> None:
    from tests.engine.conftest import RULES

    first, second = load_bundle(RULES), load_bundle(RULES)
    names = {c.name for b in (first, second) for e in b._engines.values() for c in e._chunks}
    assert len(names) == sum(len(e._chunks) for b in (first, second) for e in b._engines.values())
    first.close()
    second.close()


def test_no_engine_ruleset_is_created_at_import() -> None:
    done = run_isolated("import service.engine.bundle, service.engine.check, sys; "
                        "import durable_rules_engine as e; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok"



def test_an_engine_that_refuses_a_ruleset_gives_a_problem_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import durable_rules_engine

    from service.engine.errors import BundleInvalid
    from tests.engine.conftest import RULES

    def refuse(name: str, definition: str) -> int:
        raise durable_rules_engine.error("Could not create ruleset, error code: 108")

    monkeypatch.setattr(durable_rules_engine, "create_ruleset", refuse)
    with pytest.raises(BundleInvalid) as raised:
        load_bundle(RULES)
    assert [p.code for p in raised.value.problems] == ["R502"]
    assert "error code: 108" in raised.value.problems[0].message


def test_an_engine_error_during_evaluation_is_an_engine_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import durable_rules_engine

    from service.engine.errors import EngineFailure
    from tests.engine.conftest import RULES

    bundle = load_bundle(RULES)

    def fail(handle: int, fact: str) -> tuple[int, int]:
        raise durable_rules_engine.error("Could not assert fact, error code: 303")

    monkeypatch.setattr(durable_rules_engine, "assert_fact", fail)
    with pytest.raises(EngineFailure):
        bundle.evaluate(FRAUD, F.transaction())
    monkeypatch.undo()
    assert fired(bundle, FRAUD, F.transaction(channel__country="SG")) == ["FRD-004"]
    bundle.close()


def test_a_rule_set_too_wide_for_one_engine_fact_gives_each_chunk_only_its_own_keys() -> None:
    # 400 fields: more keys than one engine fact may hold, so chunks get their own keys, not the whole fact
    fields = {f"w.f{i}": FieldSpec(f"w.f{i}", FieldType.INT) for i in range(400)}
    scope = Scope("wide rules", fields)
    compiled = compile_many([f"w.f{i} > 0 and w.f{i + 200} > 0" for i in range(200)], scope)
    engine = EngineRuleSet(compiled, "wide", {})
    facts: dict[str, object] = {name: index % 3 for index, name in enumerate(fields)}
    try:
        fired = engine.fired(facts)  # type: ignore[arg-type]
    finally:
        engine.close()
    assert len(compiled.sources) > MAX_KEYS
    assert fired == reference_fired(compiled, facts, {})  # type: ignore[arg-type]
    assert 0 < len(fired) < 200


def test_a_fact_is_asserted_only_into_the_chunks_whose_rules_it_can_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # three chunks (see test_compiler): every fact meets the first, X and Y facts the second, Y facts and
    # facts with a.b the third
    texts = [text for i in range(60) for text in (f"a.t == 'X' and a.n >= {-i}", f"a.t == 'Y' and a.n >= {-i}")]
    compiled = compile_many([*texts, "a.b and a.n > 5", "a.n > 7"])
    engine = EngineRuleSet(compiled, "guards", {})
    asserted: list[int] = []
    assert_fact = durable_rules_engine.assert_fact

    def counting(handle: int, text: str) -> tuple[int, int]:
        asserted.append(handle)
        return assert_fact(handle, text)  # type: ignore[no-any-return]

    monkeypatch.setattr(durable_rules_engine, "assert_fact", counting)
    base = {"a.n": 10, "a.d": Decimal(0), "a.m": 0, "a.s": ""}
    try:
        for changes, chunks_met in [({"a.t": "X", "a.b": False}, 2), ({"a.t": "Y", "a.b": False}, 3),
                                    ({"a.t": "X", "a.b": True}, 3)]:
            facts: dict[str, object] = {**base, **changes}
            asserted.clear()
            assert engine.fired(facts) == reference_fired(compiled, facts, {})  # type: ignore[arg-type]
            assert len(asserted) == chunks_met, changes
    finally:
        engine.close()
