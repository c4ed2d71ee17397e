"""Request builders shared by the contract tests and the benchmark: realistic people and calls."""

from __future__ import annotations

import uuid

from service._gen.decision.v1 import decision_pb2 as pb


def cny(yuan: int) -> pb.Money:
    return pb.Money(currency="CNY", minor_units=yuan * 100)


def request_id() -> str:
    return uuid.uuid4().hex


def strong_applicant(user_id: str, **overrides: object) -> pb.Applicant:
    """Excellent on every scorecard characteristic: band A."""
    fields: dict[str, object] = dict(
        user_id=user_id,
        age=35,
        real_name_verified=True,
        agreement_signed=True,
        annual_income=cny(900_000),
        monthly_spend_avg=cny(12_000),
        active_spend_months=12,
        on_time_repayments_24m=24,
        overdue_count_24m=0,
        max_days_overdue_24m=0,
        credit_inquiries_6m=0,
        financial_assets=cny(300_000),
        account_age_months=96,
        verified_contacts=40,
        country="CN",
    )
    fields.update(overrides)
    return pb.Applicant(**fields)  # type: ignore[arg-type]


def weak_applicant(user_id: str, **overrides: object) -> pb.Applicant:
    """Poor on every scorecard characteristic, yet of age and verified: declined for a low score."""
    fields: dict[str, object] = dict(
        user_id=user_id,
        age=30,
        real_name_verified=True,
        agreement_signed=True,
        annual_income=cny(30_000),
        monthly_spend_avg=cny(0),
        active_spend_months=0,
        on_time_repayments_24m=0,
        overdue_count_24m=6,
        max_days_overdue_24m=60,
        credit_inquiries_6m=9,
        financial_assets=cny(0),
        account_age_months=1,
        verified_contacts=0,
        country="CN",
    )
    fields.update(overrides)
    return pb.Applicant(**fields)  # type: ignore[arg-type]


def drawdown(user_id: str, yuan: int, **overrides: object) -> pb.AuthorizeDrawdownRequest:
    fields: dict[str, object] = dict(
        request_id=request_id(),
        user_id=user_id,
        amount=cny(yuan),
        term_months=6,
        repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
        purpose="CONSUMPTION",
        channel=pb.Channel(device_id=f"dev-{user_id}", ip="10.1.2.3", country="CN", city="Hangzhou"),
    )
    fields.update(overrides)
    return pb.AuthorizeDrawdownRequest(**fields)  # type: ignore[arg-type]
