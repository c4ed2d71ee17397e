"""Complete, valid fact sets for each rule set, to vary one field at a time."""

from __future__ import annotations

from decimal import Decimal

APPLICANT: dict[str, object] = {
    "applicant.age": 30,
    "applicant.real_name_verified": True,
    "applicant.agreement_signed": True,
    "applicant.annual_income": 120_000_00,
    "applicant.monthly_spend_avg": 3_000_00,
    "applicant.active_spend_months": 12,
    "applicant.on_time_repayments_24m": 24,
    "applicant.overdue_count_24m": 0,
    "applicant.max_days_overdue_24m": 0,
    "applicant.credit_inquiries_6m": 1,
    "applicant.financial_assets": 20_000_00,
    "applicant.account_age_months": 36,
    "applicant.verified_contacts": 12,
    "applicant.country": "CN",
}

SCORE: dict[str, object] = {"score.value": 700, "score.band": "A"}

LINE: dict[str, object] = {
    "line.status": "ACTIVE",
    "line.credit_limit": 50_000_00,
    "line.outstanding_principal": 0,
    "line.available_limit": 50_000_00,
    "line.daily_interest_rate": Decimal("0.0002"),
    "line.days_past_due": 0,
    "line.residence_country": "CN",
}

CHANNEL: dict[str, object] = {
    "channel.device_id": "device-1",
    "channel.ip": "10.0.0.1",
    "channel.country": "CN",
    "channel.city": "Shanghai",
}

FEATURES: dict[str, object] = {
    "features.drawdowns_last_hour": 0,
    "features.drawdown_amount_last_hour": 0,
    "features.credential_changed_last_24h": False,
    "features.device_seen_before": True,
    "features.counterparty_new_last_24h": False,
    "features.transfer_out_last_hour": 0,
    "features.transfer_out_ratio_last_hour": Decimal(0),
}

DRAWDOWN: dict[str, object] = {
    "drawdown.amount": 1_000_00,
    "drawdown.term_months": 6,
    "drawdown.repayment_method": "EQUAL_INSTALLMENT",
    "drawdown.purpose": "CONSUMPTION",
    "drawdown.share_of_available_limit": Decimal("0.02"),
    **LINE,
    **CHANNEL,
    **FEATURES,
}

TRANSACTION: dict[str, object] = {
    "transaction.type": "DRAWDOWN",
    "transaction.amount": 1_000_00,
    "transaction.counterparty_id": "",
    "transaction.merchant_category": "",
    "transaction.share_of_available_limit": Decimal("0.02"),
    **LINE,
    **CHANNEL,
    **FEATURES,
}


def eligible(**changes: object) -> dict[str, object]:
    """Applicant and score facts of a good applicant, with dotted-name changes given as a__b=value."""
    return _with({**APPLICANT, **SCORE}, changes)


def drawdown(**changes: object) -> dict[str, object]:
    return _with(DRAWDOWN, changes)


def transaction(**changes: object) -> dict[str, object]:
    return _with(TRANSACTION, changes)


def _with(base: dict[str, object], changes: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in changes.items():
        name = key.replace("__", ".")
        assert name in out or name.startswith("applicant.attributes."), name
        out[name] = value
    return out
