"""Calls as a client makes them: build a request, send it (often many at once), read the answer or the error."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import grpc

from service._gen.decision.v1 import decision_pb2 as pb
from tests.guarantees.servers import Client
from tests.support.builders import drawdown, request_id, strong_applicant

RPC_TIMEOUT = 30.0  # no call of these tests may hang a run


def new_user(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def open_line(client: Client, user_id: str) -> int:
    """Grant a band-A applicant a limit and return it in fen (200,000 CNY for the builders' applicant)."""
    answer = client.decisions.GrantLimit(
        pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user_id)), timeout=RPC_TIMEOUT
    )
    assert answer.outcome == pb.OUTCOME_APPROVE, answer
    return int(answer.credit_limit.minor_units)


def log_in_from_own_device(client: Client, user_id: str) -> None:
    """A login from the device the drawdown builder uses, so that drawdowns of 10,000 CNY or more from it are
    not reviewed as coming from a NEW_DEVICE."""
    answer = client.decisions.FlagTransaction(
        pb.FlagTransactionRequest(
            request_id=request_id(),
            transaction=pb.Transaction(
                transaction_id=request_id(),
                user_id=user_id,
                type=pb.TRANSACTION_TYPE_LOGIN,
                channel=pb.Channel(device_id=f"dev-{user_id}", country="CN"),
            ),
        ),
        timeout=RPC_TIMEOUT,
    )
    assert answer.outcome == pb.OUTCOME_APPROVE, answer


def drawdown_of(user_id: str, fen: int) -> pb.AuthorizeDrawdownRequest:
    request = drawdown(user_id, 0)
    request.amount.CopyFrom(pb.Money(currency="CNY", minor_units=fen))
    return request


def repayment_of(user_id: str, drawdown_id: str, fen: int) -> pb.RecordRepaymentRequest:
    return pb.RecordRepaymentRequest(
        request_id=request_id(),
        user_id=user_id,
        drawdown_id=drawdown_id,
        amount=pb.Money(currency="CNY", minor_units=fen),
    )


def credit_line(client: Client, user_id: str) -> pb.GetCreditLineResponse:
    return client.ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user_id), timeout=RPC_TIMEOUT)


def answers(futures: Sequence[Any]) -> list[Any]:
    """The answer of each call, or the grpc.RpcError it failed with, in order."""
    results: list[Any] = []
    for future in futures:
        try:
            results.append(future.result())
        except grpc.RpcError as error:
            results.append(error)
    return results


def errors_of(results: Sequence[Any]) -> list[str]:
    return [f"{e.code().name}: {e.details()}" for e in results if isinstance(e, grpc.RpcError)]
