"""Ledger records with sensible defaults, so that each test states only what it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from service.app.ports import DecisionRecord
from service.domain.model import (
    CreditLine,
    Drawdown,
    EventType,
    HistoryEvent,
    Installment,
    LineStatus,
    RepaymentMethod,
)

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
USER = "uk_0f3a9c"
RATE = Decimal("0.0005")


def a_line(user_key: str = USER, *, limit: int = 100_000, status: LineStatus = LineStatus.ACTIVE) -> CreditLine:
    return CreditLine(
        user_key=user_key,
        credit_limit=limit,
        outstanding_principal=0,
        daily_interest_rate=RATE,
        status=status,
        residence_country="CN",
        opened_at=T0,
        updated_at=T0,
    )


def a_schedule(amount: int) -> tuple[Installment, ...]:
    first = amount // 3
    return (
        Installment(1, date(2026, 4, 1), first, 465),
        Installment(2, date(2026, 5, 1), first, 300),
        Installment(3, date(2026, 6, 1), amount - 2 * first, 155),
    )


def a_drawdown(
    user_key: str = USER, *, amount: int = 10_000, at: datetime = T0, drawdown_id: str | None = None
) -> Drawdown:
    return Drawdown(
        drawdown_id=drawdown_id or f"dd_{uuid.uuid4().hex}",
        user_key=user_key,
        amount=amount,
        term_months=3,
        repayment_method=RepaymentMethod.EQUAL_PRINCIPAL,
        daily_interest_rate=RATE,
        purpose="CONSUMPTION",
        created_at=at,
        schedule=a_schedule(amount),
    )


def an_event(
    event_type: EventType = EventType.LOGIN,
    *,
    user_key: str = USER,
    at: datetime = T0,
    device_id: str = "",
    counterparty_id: str = "",
    amount: int = 0,
) -> HistoryEvent:
    return HistoryEvent(
        user_key=user_key,
        event_type=event_type,
        occurred_at=at,
        amount=amount,
        device_id=device_id,
        country="CN",
        counterparty_id=counterparty_id,
        event_id=f"ev_{uuid.uuid4().hex[:8]}",
    )


def a_decision(
    request_id: str | None = "req-1", *, user_key: str | None = USER, at: datetime = T0, rpc: str = "AuthorizeDrawdown"
) -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"dec_{uuid.uuid4().hex}",
        rpc=rpc,
        request_id=request_id,
        request_digest="9f2c" * 16,
        user_key=user_key,
        request_json='{"amount":10000,"user":"uk_0f3a9c"}',
        response=b"\x08\x01\x12\x00\xff\x00binary",
        outcome="APPROVE",
        ruleset_version="2026.03-1",
        ruleset_digest="ab" * 32,
        decided_at=at,
        latency_us=1234,
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
