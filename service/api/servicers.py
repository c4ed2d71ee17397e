"""gRPC servicers: convert the request, call one use case, convert back. No business logic here.

Each method is written as plain synchronous code; `_served` makes it an asyncio handler that runs it through
the server's CallRunner (see runners.py)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api import requests, responses
from service.api.decoding import UndecodableRequest
from service.api.runners import CallRunner
from service.api.status import abort_with
from service.app.recording import Reply
from service.app.rules_holder import RulesStatus
from service.app.usecases import DecisionApp
from service.domain.errors import StoreUnavailable

S = TypeVar("S", bound="_Servicer")
Response = Message | bytes  # bytes: a response already serialized (see server.serialize_response)
Method = Callable[[S, Any], Response]
Handler = Callable[[S, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]


async def _nothing_to_report(error: StoreUnavailable) -> None:
    return None


class _Servicer:
    def __init__(
        self,
        app: DecisionApp,
        runner: CallRunner,
        store_unavailable: Callable[[StoreUnavailable], Awaitable[None]] = _nothing_to_report,
    ) -> None:
        """`store_unavailable`: told of every call that failed because the database did not answer (health
        follows the database: database_health.py)."""
        self._app = app
        self._runner = runner
        self._store_unavailable = store_unavailable


def _served(method: Method[S]) -> Handler[S]:
    """The RPC handler for a method that takes a request and returns its response: run by the servicer's
    runner, with any exception turned into the status from api/status.py. A call the database failed is
    reported to health first, so that the caller's next health check already says so; a call that succeeds
    pays nothing for it."""

    @functools.wraps(method)
    async def handler(self: S, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Response:
        if type(request) is UndecodableRequest:
            await abort_with(context, request, method.__name__)
        try:
            return await self._runner.run(functools.partial(method, self, request))
        except Exception as error:
            if isinstance(error, StoreUnavailable):
                await self._store_unavailable(error)
            await abort_with(context, error, method.__name__)
            raise  # pragma: no cover - abort_with raises

    return handler


def _answer(message_type: type[Message], reply: Reply) -> bytes:
    """The stored response as it is, or for a replay, decoded, with meta.replayed set, and encoded again.
    Appending the encoding of `{meta: {replayed: true}}` would be the same message to a parser that merges a
    repeated message field, as protobuf requires, but protobuf.js 7 (Node's @grpc/proto-loader) keeps only the
    last occurrence: its clients saw a replay's meta empty but for `replayed`."""
    if not reply.replayed:
        return reply.response
    answer = message_type.FromString(reply.response)
    answer.meta.replayed = True  # type: ignore[attr-defined]
    return answer.SerializeToString()


class DecisionServicer(_Servicer, pb_grpc.DecisionServiceServicer):
    @_served
    def ScoreUser(self, request: pb.ScoreUserRequest) -> bytes:
        command = requests.score_command(request, self._app.attribute_violations)
        reply = self._app.score_user(command, lambda r: responses.score_response(r).SerializeToString())
        return _answer(pb.ScoreUserResponse, reply)

    @_served
    def GrantLimit(self, request: pb.GrantLimitRequest) -> bytes:
        command = requests.grant_command(request, self._app.attribute_violations)
        reply = self._app.grant_limit(command, lambda r: responses.grant_response(r).SerializeToString())
        return _answer(pb.GrantLimitResponse, reply)

    @_served
    def AuthorizeDrawdown(self, request: pb.AuthorizeDrawdownRequest) -> bytes:
        reply = self._app.authorize_drawdown(
            requests.drawdown_command(request), lambda r: responses.drawdown_response(r).SerializeToString()
        )
        return _answer(pb.AuthorizeDrawdownResponse, reply)

    @_served
    def FlagTransaction(self, request: pb.FlagTransactionRequest) -> bytes:
        command = requests.transaction_command(request, self._app.now())
        reply = self._app.flag_transaction(command, lambda r: responses.flag_response(r).SerializeToString())
        return _answer(pb.FlagTransactionResponse, reply)


class CreditLineServicer(_Servicer, pb_grpc.CreditLineServiceServicer):
    @_served
    def GetCreditLine(self, request: pb.GetCreditLineRequest) -> bytes:
        user_id = requests.credit_line_user(request)
        reply = self._app.get_credit_line(user_id, lambda v: responses.credit_line_response(v).SerializeToString())
        # The stored response leaves the user id out (no raw user id in the decision record): add it back.
        return reply.response + pb.GetCreditLineResponse(user_id=user_id).SerializeToString()

    @_served
    def RecordRepayment(self, request: pb.RecordRepaymentRequest) -> bytes:
        reply = self._app.record_repayment(
            requests.repayment_command(request), lambda r: responses.repayment_response(r).SerializeToString()
        )
        return _answer(pb.RecordRepaymentResponse, reply)


class RulesServicer(pb_grpc.RulesServiceServicer):
    def __init__(self, status: Callable[[], RulesStatus]) -> None:
        self._status = status

    async def GetRulesStatus(
        self, request: pb.GetRulesStatusRequest | UndecodableRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetRulesStatusResponse:
        if isinstance(request, UndecodableRequest):
            await abort_with(context, request, "GetRulesStatus")
        try:
            return responses.rules_status_response(self._status())
        except Exception as error:
            await abort_with(context, error, "GetRulesStatus")
            raise  # pragma: no cover - abort_with raises
