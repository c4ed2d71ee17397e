"""The starter bundle in rules/ implements the policy of issue 2, section 4 (the numbers are the spec)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from service.engine.bundle import RuleBundle, load_bundle
from service.engine.catalogue import RuleSetKind
from service.engine.model import BandOffer, Outcome, Severity
from tests.engine import facts as F
from tests.engine.conftest import RULES, BundleCopy

ELIGIBILITY, DRAWDOWN, FRAUD = RuleSetKind.ELIGIBILITY, RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD


def score(bundle: RuleBundle, applicant: dict[str, object]) -> int:
    card = bundle.scorecard
    raw = card.base_points + sum(m.points for m in bundle.score_bins(applicant))
    return max(card.min_score, min(card.max_score, raw))


def fired(bundle: RuleBundle, kind: RuleSetKind, facts: dict[str, object]) -> list[str]:
    got = [f.rule_id for f in bundle.evaluate(kind, facts)]
    assert got == [f.rule_id for f in bundle.evaluate_reference(kind, facts)]
    return got


EXCELLENT = F.eligible(applicant__max_days_overdue_24m=0, applicant__monthly_spend_avg=20_000_00,
                       applicant__financial_assets=500_000_00, applicant__credit_inquiries_6m=0,
                       applicant__account_age_months=120, applicant__verified_contacts=100)
POOR = F.eligible(applicant__max_days_overdue_24m=120, applicant__monthly_spend_avg=0, applicant__financial_assets=0,
                  applicant__credit_inquiries_6m=20, applicant__account_age_months=1, applicant__verified_contacts=0)


def test_bundle_identity(starter: RuleBundle) -> None:
    assert starter.version == "2026.12-2"
    assert len(starter.digest) == 64
    assert starter.attributes == {"employment_months": starter.attributes["employment_months"]}


def test_excellent_applicant_scores_at_least_700_and_poor_below_600(starter: RuleBundle) -> None:
    assert score(starter, EXCELLENT) >= 700
    assert score(starter, POOR) < 600


def test_scorecard_has_the_six_characteristics_and_the_bands(starter: RuleBundle) -> None:
    card = starter.scorecard
    assert [c.characteristic_id for c in card.characteristics] == \
        ["SC-REPAY", "SC-SPEND", "SC-ASSETS", "SC-HUNGER", "SC-TENURE", "SC-SOCIAL"]
    assert [(b.name, b.min_score) for b in card.bands] == [("A", 700), ("B", 650), ("C", 600), ("D", 550), ("E", 350)]
    assert (card.min_score, card.max_score) == (350, 950)


def test_every_characteristic_matches_exactly_one_bin(starter: RuleBundle) -> None:
    for applicant in (EXCELLENT, POOR, F.eligible()):
        matches = starter.score_bins(applicant)
        expected = [c.characteristic_id for c in starter.scorecard.characteristics]
        assert [m.characteristic_id for m in matches] == expected
    assert [m.bin_rule_id for m in starter.score_bins(F.eligible())] == \
        ["SC-REPAY/1", "SC-SPEND/3", "SC-ASSETS/3", "SC-HUNGER/1", "SC-TENURE/3", "SC-SOCIAL/3"]


def test_good_applicant_fires_no_eligibility_rule(starter: RuleBundle) -> None:
    assert fired(starter, ELIGIBILITY, F.eligible()) == []


@pytest.mark.parametrize(("changes", "rule", "outcome", "reason"), [
    ({"applicant__age": 17}, "ELG-001", Outcome.DECLINE, "AGE_OUT_OF_RANGE"),
    ({"applicant__age": 66}, "ELG-001", Outcome.DECLINE, "AGE_OUT_OF_RANGE"),
    ({"applicant__real_name_verified": False}, "ELG-002", Outcome.DECLINE, "IDENTITY_NOT_VERIFIED"),
    ({"applicant__agreement_signed": False}, "ELG-003", Outcome.DECLINE, "AGREEMENT_NOT_SIGNED"),
    ({"score__value": 599}, "ELG-004", Outcome.DECLINE, "LOW_SCORE"),
    ({"applicant__max_days_overdue_24m": 91}, "ELG-005", Outcome.DECLINE, "SEVERE_DELINQUENCY"),
    ({"applicant__credit_inquiries_6m": 11}, "ELG-006", Outcome.REVIEW, "EXCESSIVE_INQUIRIES"),
])
def test_each_eligibility_rule(starter: RuleBundle, changes: dict[str, object], rule: str, outcome: Outcome,
                               reason: str) -> None:
    (hit,) = starter.evaluate(ELIGIBILITY, F.eligible(**changes))
    assert (hit.rule_id, hit.outcome, hit.reason_code) == (rule, outcome, reason)
    assert hit.with_score_reasons is (rule == "ELG-004")


@pytest.mark.parametrize("changes", [{"applicant__age": 18}, {"applicant__age": 65}, {"score__value": 600},
                                     {"applicant__max_days_overdue_24m": 90}, {"applicant__credit_inquiries_6m": 10}])
def test_eligibility_boundaries_do_not_fire(starter: RuleBundle, changes: dict[str, object]) -> None:
    assert fired(starter, ELIGIBILITY, F.eligible(**changes)) == []


def test_limits_policy(starter: RuleBundle) -> None:
    limits = starter.limits
    assert limits.offers == {"A": BandOffer(200_000_00, Decimal("0.0002")),
                             "B": BandOffer(80_000_00, Decimal("0.0003")),
                             "C": BandOffer(30_000_00, Decimal("0.0004"))}
    assert (limits.rounding, limits.minimum_limit, limits.apr_cap, limits.days_per_year) == \
        (100_00, 1_000_00, Decimal("0.24"), 365)
    assert (limits.minimum_limit_reason, limits.no_offer_reason) == ("LIMIT_BELOW_MINIMUM", "NO_OFFER_FOR_BAND")


def test_caps_are_a_third_of_income_and_the_regulatory_ceiling(starter: RuleBundle) -> None:
    caps = starter.caps(F.eligible(applicant__annual_income=100_000_00))
    assert [(c.rule_id, c.reason_code, c.amount) for c in caps] == [
        ("LIM-INCOME", "CAPPED_BY_INCOME", 33_333_33), ("LIM-REGULATION", "CAPPED_BY_REGULATION", 300_000_00)]
    assert 33_333_33 < caps[0].exact < 33_333_34  # a third, before rounding down: whether it binds is judged on it


@pytest.mark.parametrize(("changes", "rule", "reason"), [
    ({"drawdown__amount": 99_99}, "DRW-001", "BELOW_MINIMUM_DRAWDOWN"),
    ({"drawdown__term_months": 4}, "DRW-002", "TERM_NOT_OFFERED"),
    ({"drawdown__repayment_method": "EQUAL_PRINCIPAL", "drawdown__term_months": 24}, "DRW-002", "TERM_NOT_OFFERED"),
    ({"drawdown__repayment_method": "BULLET", "drawdown__term_months": 13}, "DRW-003", "TERM_NOT_OFFERED"),
    ({"drawdown__purpose": "FUTURES"}, "DRW-004", "PROHIBITED_PURPOSE"),
    ({"line__status": "FROZEN"}, "DRW-005", "LINE_NOT_ACTIVE"),
    ({"line__status": "CLOSED"}, "DRW-005", "LINE_NOT_ACTIVE"),
    ({"line__days_past_due": 1}, "DRW-006", "LINE_DELINQUENT"),
])
def test_each_drawdown_rule_declines(starter: RuleBundle, changes: dict[str, object], rule: str, reason: str) -> None:
    (hit,) = starter.evaluate(DRAWDOWN, F.drawdown(**changes))
    assert (hit.rule_id, hit.outcome, hit.reason_code) == (rule, Outcome.DECLINE, reason)


@pytest.mark.parametrize("changes", [
    {}, {"drawdown__amount": 100_00}, {"drawdown__term_months": 12},
    {"drawdown__repayment_method": "BULLET", "drawdown__term_months": 7}, {"drawdown__purpose": "TRAVEL"},
])
def test_ordinary_drawdowns_pass_the_policy(starter: RuleBundle, changes: dict[str, object]) -> None:
    assert fired(starter, DRAWDOWN, F.drawdown(**changes)) == []


@pytest.mark.parametrize(("changes", "rule", "flag", "severity", "outcome"), [
    ({"features__drawdowns_last_hour": 3}, "FRD-001", "VELOCITY_HOURLY", Severity.MEDIUM, Outcome.REVIEW),
    ({"transaction__share_of_available_limit": Decimal("0.5"), "features__credential_changed_last_24h": True},
     "FRD-002", "ATO_RECENT_CREDENTIAL_CHANGE", Severity.HIGH, Outcome.REVIEW),
    ({"transaction__amount": 10_000_00, "features__device_seen_before": False},
     "FRD-003", "NEW_DEVICE", Severity.MEDIUM, Outcome.REVIEW),
    ({"channel__country": "SG"}, "FRD-004", "GEO_MISMATCH", Severity.MEDIUM, Outcome.REVIEW),
    ({"transaction__type": "TRANSFER_OUT", "features__counterparty_new_last_24h": True,
      "features__transfer_out_ratio_last_hour": Decimal("0.9")}, "FRD-005", "RAPID_MOVEMENT", Severity.HIGH,
     Outcome.REVIEW),
    ({"transaction__counterparty_id": "CP-MULE-0002", "transaction__type": "TRANSFER_OUT"},
     "FRD-006", "MULE_COUNTERPARTY", Severity.HIGH, Outcome.DECLINE),
    # no device named: referred as such, never as a device "never seen" (FRD-003)
    ({"transaction__amount": 10_000_00, "channel__device_id": "", "features__device_seen_before": False},
     "FRD-007", "NO_DEVICE", Severity.MEDIUM, Outcome.REVIEW),
])
def test_each_fraud_rule(starter: RuleBundle, changes: dict[str, object], rule: str, flag: str, severity: Severity,
                         outcome: Outcome) -> None:
    (hit,) = starter.evaluate(FRAUD, F.transaction(**changes))
    assert (hit.rule_id, hit.flag_code, hit.severity, hit.outcome) == (rule, flag, severity, outcome)


@pytest.mark.parametrize("changes", [
    {"features__drawdowns_last_hour": 2},
    {"features__drawdowns_last_hour": 5, "transaction__type": "TRANSFER_OUT"},
    {"transaction__share_of_available_limit": Decimal("0.49"), "features__credential_changed_last_24h": True},
    {"transaction__amount": 9_999_99, "features__device_seen_before": False},
    {"transaction__amount": 9_999_99, "channel__device_id": "", "features__device_seen_before": False},
    {"channel__country": ""},
    {"channel__country": "SG", "line__residence_country": ""},
    {"transaction__type": "TRANSFER_OUT", "features__counterparty_new_last_24h": True,
     "features__transfer_out_ratio_last_hour": Decimal("0.89")},
    {"transaction__counterparty_id": "CP-MULE-9999"},
])
def test_fraud_rules_stay_quiet_just_below_their_thresholds(starter: RuleBundle, changes: dict[str, object]) -> None:
    assert fired(starter, FRAUD, F.transaction(**changes)) == []


def test_rule_ids_in_bundle_order(starter: RuleBundle) -> None:
    assert starter.rule_ids(FRAUD) == [f"FRD-00{i}" for i in range(1, 8)]
    assert starter.rule_ids(RuleSetKind.LIMITS) == ["LIM-INCOME", "LIM-REGULATION"]
    assert starter.rule_ids(RuleSetKind.SCORECARD)[:2] == ["SC-REPAY/1", "SC-REPAY/2"]
    assert len(starter.all_rule_ids()) == 24 + 6 + 2 + 6 + 7


def test_explain_names_the_failing_part_with_its_values(starter: RuleBundle) -> None:
    traces = starter.explain(FRAUD, F.transaction(features__drawdowns_last_hour=1, transaction__amount=20_000_00,
                                                  features__device_seen_before=False))
    by_id = {t.rule_id: t for t in traces}
    assert by_id["FRD-001"].failed == ("features.drawdowns_last_hour >= 3 (features.drawdowns_last_hour = 1)",)
    assert by_id["FRD-003"].matched and by_id["FRD-003"].failed == ()
    assert by_id["FRD-004"].failed == ("channel.country != line.residence_country "
                                       "(channel.country = 'CN', line.residence_country = 'CN')",)


def _digest_by_hand(directory: str) -> str:
    from pathlib import Path

    root = Path(directory)
    files = ["bundle.yaml", "drawdown.yaml", "eligibility.yaml", "fraud.yaml", "limits.yaml",
             "lists/mule_counterparties.txt", "scorecard.yaml"]
    h = hashlib.sha256()
    for rel in files:
        data = (root / rel).read_bytes()
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def test_digest_covers_exactly_the_files_that_decide(bundle_copy: BundleCopy) -> None:
    before = load_bundle(bundle_copy.dir)
    assert before.digest == _digest_by_hand(str(RULES)) == _digest_by_hand("rules")
    bundle_copy.write("tests/extra.yaml", "cases: []\n")
    bundle_copy.write("README.md", "notes\n")
    same = load_bundle(bundle_copy.dir)
    bundle_copy.replace("lists/mule_counterparties.txt", "CP-MULE-0003\n", "CP-MULE-0003\nCP-MULE-0004\n")
    changed = load_bundle(bundle_copy.dir)
    assert same.digest == before.digest != changed.digest
    for b in (before, same, changed):
        b.close()


def test_reads_names_the_fields_each_rule_set_reads(starter: RuleBundle) -> None:
    fraud, drawdown = starter.reads(FRAUD), starter.reads(DRAWDOWN)
    assert {"transaction.type", "channel.country", "line.residence_country", "features.device_seen_before"} <= fraud
    assert "line.days_past_due" not in fraud  # so a FlagTransaction does not look up the user's open drawdowns
    assert {"line.days_past_due", "line.status"} <= drawdown
    assert starter.reads(DRAWDOWN, FRAUD) == drawdown | fraud
    with pytest.raises(ValueError, match="not evaluated rule by rule"):
        starter.reads(RuleSetKind.SCORECARD)


@pytest.mark.parametrize(("base_a", "regulation", "cannot_bind"), [
    ("200000 CNY", "300000 CNY", ["LIM-REGULATION"]),  # the starter policy: a backstop above every base
    ("300000 CNY", "300000 CNY", ["LIM-REGULATION"]),  # equal to the highest base: a cap binds only below it
    ("300000.01 CNY", "300000 CNY", []),  # band A's base raised past it: now it binds, and a case must show it
])
def test_a_fixed_cap_at_or_above_every_base_limit_is_told_apart_as_one_that_cannot_bind(
    bundle_copy: BundleCopy, base_a: str, regulation: str, cannot_bind: list[str]
) -> None:
    bundle_copy.replace("limits.yaml", "A: {base_limit: 200000 CNY", f"A: {{base_limit: {base_a}")
    bundle_copy.replace("limits.yaml", "amount: 300000 CNY", f"amount: {regulation}")
    bundle = load_bundle(bundle_copy.dir)
    try:
        # LIM-INCOME, a third of the applicant's income, can bind whatever its amount for one applicant
        assert bundle.caps_that_cannot_bind() == cannot_bind
    finally:
        bundle.close()
