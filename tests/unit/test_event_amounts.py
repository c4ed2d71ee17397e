"""An account event that moves no money (LOGIN, PASSWORD_CHANGE, PHONE_CHANGE) has none: an amount sent with one is
checked, then read as 0, so that a rule on transaction.amount (or the share of the available limit) never sees money
on a login (the catalogue: "0 for events that move no money")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.requests import transaction_command
from service.domain.errors import InvalidRequest


def event(kind: int, amount: pb.Money | None) -> pb.FlagTransactionRequest:
    return pb.FlagTransactionRequest(request_id="r-1", transaction=pb.Transaction(
        transaction_id="t-1", user_id="u-1", type=kind, amount=amount))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [pb.TRANSACTION_TYPE_LOGIN, pb.TRANSACTION_TYPE_PASSWORD_CHANGE,
                                  pb.TRANSACTION_TYPE_PHONE_CHANGE])
def test_an_event_that_moves_no_money_is_read_with_none_whatever_amount_it_carries(kind: int) -> None:
    command = transaction_command(event(kind, pb.Money(currency="CNY", minor_units=150_000_00)), datetime.now(UTC))
    assert command.amount == 0
    with pytest.raises(InvalidRequest) as refused:  # still checked: a malformed amount is named
        transaction_command(event(kind, pb.Money(currency="USD", minor_units=1)), datetime.now(UTC))
    assert [v.field for v in refused.value.violations] == ["transaction.amount.currency"]


def test_an_event_that_moves_money_keeps_its_amount() -> None:
    sent = pb.Money(currency="CNY", minor_units=150_000_00)
    assert transaction_command(event(pb.TRANSACTION_TYPE_TRANSFER_OUT, sent), datetime.now(UTC)).amount == 150_000_00
