"""gRPC servicers: convert the request, call one use case, convert back. No business logic here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api import requests, responses
from service.api.status import abort_with
from service.app.recording import Reply
from service.app.rules_holder import RulesStatus
from service.app.usecases import DecisionApp

M = TypeVar("M", bound=Message)
Handler = Callable[[Any, Any, grpc.ServicerContext], Any]


def _mapped_errors(handler: Handler) -> Handler:
    """Turns any exception the handler raises into the status from api/status.py."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except Exception as error:
            abort_with(context, error)

    return wrapper


def _answer(message_type: type[M], reply: Reply) -> M:
    message = message_type.FromString(reply.response)
    if reply.replayed:
        message.meta.replayed = True  # type: ignore[attr-defined]
    return message


class DecisionServicer(pb_grpc.DecisionServiceServicer):
    def __init__(self, app: DecisionApp) -> None:
        self._app = app

    @_mapped_errors
    def ScoreUser(self, request: pb.ScoreUserRequest, context: grpc.ServicerContext) -> pb.ScoreUserResponse:
        reply = self._app.score_user(
            requests.score_command(request), lambda r: responses.score_response(r).SerializeToString()
        )
        return _answer(pb.ScoreUserResponse, reply)

    @_mapped_errors
    def GrantLimit(self, request: pb.GrantLimitRequest, context: grpc.ServicerContext) -> pb.GrantLimitResponse:
        reply = self._app.grant_limit(
            requests.grant_command(request), lambda r: responses.grant_response(r).SerializeToString()
        )
        return _answer(pb.GrantLimitResponse, reply)

    @_mapped_errors
    def AuthorizeDrawdown(
        self, request: pb.AuthorizeDrawdownRequest, context: grpc.ServicerContext
    ) -> pb.AuthorizeDrawdownResponse:
        reply = self._app.authorize_drawdown(
            requests.drawdown_command(request), lambda r: responses.drawdown_response(r).SerializeToString()
        )
        return _answer(pb.AuthorizeDrawdownResponse, reply)

    @_mapped_errors
    def FlagTransaction(
        self, request: pb.FlagTransactionRequest, context: grpc.ServicerContext
    ) -> pb.FlagTransactionResponse:
        command = requests.transaction_command(request, self._app.now())
        reply = self._app.flag_transaction(command, lambda r: responses.flag_response(r).SerializeToString())
        return _answer(pb.FlagTransactionResponse, reply)


class CreditLineServicer(pb_grpc.CreditLineServiceServicer):
    def __init__(self, app: DecisionApp) -> None:
        self._app = app

    @_mapped_errors
    def GetCreditLine(
        self, request: pb.GetCreditLineRequest, context: grpc.ServicerContext
    ) -> pb.GetCreditLineResponse:
        user_id = requests.credit_line_user(request)
        reply = self._app.get_credit_line(user_id, lambda v: responses.credit_line_response(v).SerializeToString())
        answer = pb.GetCreditLineResponse.FromString(reply.response)
        answer.user_id = user_id  # the stored response leaves it out: no raw user id in the decision record
        return answer

    @_mapped_errors
    def RecordRepayment(
        self, request: pb.RecordRepaymentRequest, context: grpc.ServicerContext
    ) -> pb.RecordRepaymentResponse:
        reply = self._app.record_repayment(
            requests.repayment_command(request), lambda r: responses.repayment_response(r).SerializeToString()
        )
        return _answer(pb.RecordRepaymentResponse, reply)


class RulesServicer(pb_grpc.RulesServiceServicer):
    def __init__(self, status: Callable[[], RulesStatus]) -> None:
        self._status = status

    @_mapped_errors
    def GetRulesStatus(
        self, request: pb.GetRulesStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetRulesStatusResponse:
        return responses.rules_status_response(self._status())
