"""Small helpers for reading gRPC answers in contract tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.builders import cny, request_id, strong_applicant

M = TypeVar("M", bound=Message)


def new_user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def codes(reasons: Any) -> list[str]:
    return [r.code for r in reasons]


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """The error a call fails with; fails the test if it succeeds."""
    try:
        call()
    except grpc.RpcError as error:
        return error
    raise AssertionError("the call succeeded but was expected to fail")


def details_of(error: grpc.RpcError, kind: type[M]) -> list[M]:
    """The details of an error's google.rpc.Status that are messages of `kind` (BadRequest, say), in order."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no rich status attached"
    found = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def bad_fields(error: grpc.RpcError) -> list[str]:
    """The field paths named by the google.rpc.BadRequest detail of an error."""
    return [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]


def violations(error: grpc.RpcError) -> dict[str, str]:
    """What the google.rpc.BadRequest detail of an error says of each field it names."""
    return {v.field: v.description
            for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations}


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """An error's google.rpc.ErrorInfo, which the service puts last in its details."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no rich status attached"
    info = error_details_pb2.ErrorInfo()
    assert status.details[-1].Unpack(info), status.details
    return info


def error_reason(error: grpc.RpcError) -> tuple[str, str]:
    """The (domain, reason) of an error's google.rpc.ErrorInfo."""
    info = error_info(error)
    return info.domain, info.reason


def open_line(
    decisions: pb_grpc.DecisionServiceStub, user_id: str, income_yuan: int = 900_000
) -> pb.GrantLimitResponse:
    """Grant a band-A applicant a limit; asserts it was approved."""
    answer = decisions.GrantLimit(
        pb.GrantLimitRequest(
            request_id=request_id(), applicant=strong_applicant(user_id, annual_income=cny(income_yuan))
        )
    )
    assert answer.outcome == pb.OUTCOME_APPROVE, answer
    return answer


def known_device(decisions: pb_grpc.DecisionServiceStub, user_id: str, device_id: str) -> None:
    """Record a login from a device so that later drawdowns from it are not from a new device."""
    decisions.FlagTransaction(
        pb.FlagTransactionRequest(
            request_id=request_id(),
            transaction=pb.Transaction(
                transaction_id=request_id()[:32],
                user_id=user_id,
                type=pb.TRANSACTION_TYPE_LOGIN,
                channel=pb.Channel(device_id=device_id, country="CN"),
            ),
        )
    )
