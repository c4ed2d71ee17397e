"""request_id idempotency and input validation, through the real server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.server import MAX_REQUEST_BYTES
from service.bootstrap import start_service
from service.config import Settings
from tests.contract.conftest import ROOT
from tests.contract.helpers import bad_fields, error_info, error_reason, new_user, open_line, rpc_error, violations
from tests.support.builders import cny, drawdown, request_id, strong_applicant


def test_a_retried_drawdown_gets_the_stored_answer_and_draws_once(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    request = drawdown(user, 2_000)
    first = decisions.AuthorizeDrawdown(request)
    second = decisions.AuthorizeDrawdown(request)
    assert first.outcome == pb.OUTCOME_APPROVE
    assert not first.meta.replayed and second.meta.replayed
    second.meta.replayed = False
    assert second == first
    assert ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)).outstanding_principal == cny(2_000)


def top_level_fields(encoded: bytes) -> list[int]:
    """The field numbers of a serialized message's top-level fields, in the order they occur."""
    numbers, at = [], 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = encoded[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(encoded):
        tag = varint()
        numbers.append(tag >> 3)
        wire = tag & 7
        if wire == 0:
            varint()
        elif wire == 2:
            length = varint()  # read before `at` moves past it
            at += length
        else:
            at += 8 if wire == 1 else 4
    return numbers


def test_a_replay_carries_its_meta_once_whole_for_parsers_that_keep_only_the_last_occurrence(
    channel: grpc.Channel, decisions: pb_grpc.DecisionServiceStub
) -> None:
    """protobuf.js 7 (Node's @grpc/proto-loader) keeps the last occurrence of a message field instead of merging:
    a replay sent as the stored answer plus `{meta: {replayed: true}}` reached Node clients with an empty meta."""
    user = new_user()
    open_line(decisions, user)
    raw = channel.unary_unary("/decision.v1.DecisionService/AuthorizeDrawdown")
    request = drawdown(user, 2_000).SerializeToString()
    first, second = raw(request), raw(request)
    meta = pb.AuthorizeDrawdownResponse.DESCRIPTOR.fields_by_name["meta"].number
    assert top_level_fields(first).count(meta) == top_level_fields(second).count(meta) == 1
    replay = pb.AuthorizeDrawdownResponse.FromString(second)
    assert replay.meta.replayed and replay.meta.decision_id == pb.AuthorizeDrawdownResponse.FromString(
        first).meta.decision_id != ""


def test_a_request_larger_than_any_valid_one_is_refused_and_the_largest_valid_one_is_decided(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """A worker takes messages of at most MAX_REQUEST_BYTES: gRPC's 4 MiB let a client announcing large messages it
    never finished hold hundreds of MB of a worker's memory. The largest valid request, its texts written in
    characters of 4 bytes each, fits (64 KiB refused it RESOURCE_EXHAUSTED, naming no field)."""
    name_character = "\U00020BB7"  # 𠮷, 4 bytes in UTF-8
    attributes = {f"a{n:02d}_{'x' * 60}": name_character * 256 for n in range(64)}  # as many and as long as allowed
    largest = pb.GrantLimitRequest(request_id=request_id(),
                                   applicant=strong_applicant(new_user(), attributes=attributes))
    assert 64 * 1024 < largest.ByteSize() < MAX_REQUEST_BYTES
    assert decisions.GrantLimit(largest).outcome == pb.OUTCOME_APPROVE
    too_large = pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(
        new_user(), attributes={"note": "x" * MAX_REQUEST_BYTES}))
    assert rpc_error(lambda: decisions.ScoreUser(too_large)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(new_user())))


def repayment_of_a_new_drawdown(
    decisions: pb_grpc.DecisionServiceStub, drawn_yuan: int, repaid_yuan: int
) -> tuple[str, pb.RecordRepaymentRequest]:
    """A new user with a line and a drawdown, and a request repaying part of it: (user id, request)."""
    user = new_user()
    open_line(decisions, user)
    taken = decisions.AuthorizeDrawdown(drawdown(user, drawn_yuan))
    return user, pb.RecordRepaymentRequest(
        request_id=request_id(), user_id=user, drawdown_id=taken.drawdown_id, amount=cny(repaid_yuan)
    )


def test_a_retried_repayment_repays_once(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user, request = repayment_of_a_new_drawdown(decisions, 2_000, 500)
    first, second = ledger.RecordRepayment(request), ledger.RecordRepayment(request)
    assert second.meta.replayed and not first.meta.replayed
    assert first.outstanding_principal == second.outstanding_principal == cny(1_500)
    assert ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user)).outstanding_principal == cny(1_500)


def test_a_retried_repayment_of_everything_outstanding_replays_instead_of_refusing_an_over_repayment(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    _, request = repayment_of_a_new_drawdown(decisions, 2_000, 2_000)
    first = ledger.RecordRepayment(request)
    second = ledger.RecordRepayment(request)  # repaying 2,000 again would exceed what is outstanding
    assert second.meta.replayed and not first.meta.replayed
    assert first.outstanding_principal == second.outstanding_principal == cny(0)


def test_a_request_id_reused_with_another_payload_is_already_exists(decisions: pb_grpc.DecisionServiceStub) -> None:
    user = new_user()
    open_line(decisions, user)
    request = drawdown(user, 1_000)
    decisions.AuthorizeDrawdown(request)
    changed = pb.AuthorizeDrawdownRequest()
    changed.CopyFrom(request)
    changed.amount.minor_units += 100
    error = rpc_error(lambda: decisions.AuthorizeDrawdown(changed))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert bad_fields(error) == ["request_id"]
    assert error_reason(error) == ("decisiond", "REQUEST_ID_REUSED")
    other_rpc = rpc_error(
        lambda: decisions.ScoreUser(
            pb.ScoreUserRequest(request_id=request.request_id, applicant=strong_applicant(user))
        )
    )
    assert other_rpc.code() == grpc.StatusCode.ALREADY_EXISTS


def _applicant(**overrides: Any) -> pb.GrantLimitRequest:
    user_id = overrides.pop("user_id", "u-valid")
    return pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user_id, **overrides))


BAD_CALLS: list[tuple[str, Callable[[pb_grpc.DecisionServiceStub], Any], set[str]]] = [
    (
        "missing request_id",
        lambda d: d.ScoreUser(pb.ScoreUserRequest(applicant=strong_applicant("u1"))),
        {"request_id"},
    ),
    ("missing applicant", lambda d: d.GrantLimit(pb.GrantLimitRequest(request_id=request_id())), {"applicant"}),
    ("missing user id", lambda d: d.GrantLimit(_applicant(user_id="")), {"applicant.user_id"}),
    ("age 131", lambda d: d.GrantLimit(_applicant(age=131)), {"applicant.age"}),
    ("negative count", lambda d: d.GrantLimit(_applicant(overdue_count_24m=-1)), {"applicant.overdue_count_24m"}),
    (
        "income in dollars",
        lambda d: d.GrantLimit(_applicant(annual_income=pb.Money(currency="USD", minor_units=1))),
        {"applicant.annual_income.currency"},
    ),
    (
        "missing income",
        lambda d: d.GrantLimit(
            pb.GrantLimitRequest(request_id=request_id(), applicant=pb.Applicant(user_id="u", age=30))
        ),
        {"applicant.annual_income"},
    ),
    ("id of 65 characters", lambda d: d.GrantLimit(_applicant(user_id="x" * 65)), {"applicant.user_id"}),
    ("bad country", lambda d: d.GrantLimit(_applicant(country="China")), {"applicant.country"}),
    (
        "declared attributes of the wrong kind, whether or not a rule reads them",
        lambda d: d.ScoreUser(
            pb.ScoreUserRequest(
                request_id=request_id(), applicant=strong_applicant("u1", attributes={"employment_months": "abc"})
            )
        ),
        {"applicant.attributes.employment_months"},
    ),
    (
        "a bad age and a declared attribute of the wrong kind: both named in one reply",
        lambda d: d.GrantLimit(_applicant(age=200, attributes={"employment_months": 1.5})),
        {"applicant.age", "applicant.attributes.employment_months"},
    ),
    (
        "a fraction for a whole number of months",
        lambda d: d.GrantLimit(_applicant(attributes={"employment_months": 2.5, "not_declared": "anything"})),
        {"applicant.attributes.employment_months"},
    ),
    (
        "an attribute name with a line break after it",
        lambda d: d.GrantLimit(_applicant(attributes={"employment_months\n": 3})),
        {"applicant.attributes"},
    ),
    (
        # The names are not echoed whole: a status whose trailers exceed a client's 16 KiB reaches the client
        # as RESOURCE_EXHAUSTED, which says retry.
        "an attribute name of 9,000 characters",
        lambda d: d.ScoreUser(
            pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u1", attributes={"k" * 9_000: 1}))
        ),
        {"applicant.attributes"},
    ),
    (
        "64 bad attribute names of 150 characters",
        lambda d: d.GrantLimit(_applicant(attributes={f"Name {i} " + "x" * 142: 1 for i in range(64)})),
        {"applicant.attributes"},
    ),
    (
        "a country and a purpose with a line break after them",
        lambda d: d.AuthorizeDrawdown(drawdown("u1", 1_000, purpose="CONSUMPTION\n",
                                               channel=pb.Channel(device_id="d1", country="CN\n"))),
        {"purpose", "channel.country"},
    ),
    ("zero amount", lambda d: d.AuthorizeDrawdown(drawdown("u1", 0)), {"amount.minor_units"}),
    ("negative amount", lambda d: d.AuthorizeDrawdown(drawdown("u1", -5)), {"amount.minor_units"}),
    ("missing amount", lambda d: d.AuthorizeDrawdown(_without(drawdown("u1", 1), "amount")), {"amount"}),
    (
        "amount of 16 digits",
        lambda d: d.AuthorizeDrawdown(drawdown("u1", 1, amount=pb.Money(currency="CNY", minor_units=10**15))),
        {"amount.minor_units"},
    ),
    (
        "income of 16 digits",
        lambda d: d.GrantLimit(_applicant(annual_income=pb.Money(currency="CNY", minor_units=10**15))),
        {"applicant.annual_income.minor_units"},
    ),
    (
        "unspecified method",
        lambda d: d.AuthorizeDrawdown(drawdown("u1", 100, repayment_method=pb.REPAYMENT_METHOD_UNSPECIFIED)),
        {"repayment_method"},
    ),
    ("unknown method", lambda d: d.AuthorizeDrawdown(drawdown("u1", 100, repayment_method=42)), {"repayment_method"}),
    ("zero term", lambda d: d.AuthorizeDrawdown(drawdown("u1", 100, term_months=0)), {"term_months"}),
    ("missing purpose", lambda d: d.AuthorizeDrawdown(drawdown("u1", 100, purpose="")), {"purpose"}),
    (
        "bad ip",
        lambda d: d.AuthorizeDrawdown(drawdown("u1", 100, channel=pb.Channel(ip="999.1.1.1"))),
        {"channel.ip"},
    ),
    (
        "several at once",
        lambda d: d.AuthorizeDrawdown(drawdown("", 0, request_id="", term_months=0)),
        {"request_id", "user_id", "amount.minor_units", "term_months"},
    ),
    (
        "missing transaction",
        lambda d: d.FlagTransaction(pb.FlagTransactionRequest(request_id=request_id())),
        {"transaction"},
    ),
    (
        "unspecified transaction type",
        lambda d: d.FlagTransaction(
            pb.FlagTransactionRequest(
                request_id=request_id(), transaction=pb.Transaction(transaction_id="t", user_id="u")
            )
        ),
        {"transaction.type"},
    ),
    (
        "transaction on the first day of year 1",
        lambda d: d.FlagTransaction(_login_at(Timestamp(seconds=-62_135_596_800))),
        {"transaction.occurred_at"},
    ),
    (
        "transaction a second before 1970",
        lambda d: d.FlagTransaction(_login_at(Timestamp(seconds=-1))),
        {"transaction.occurred_at"},
    ),
    (
        "transfer without amount",
        lambda d: d.FlagTransaction(
            pb.FlagTransactionRequest(
                request_id=request_id(),
                transaction=pb.Transaction(transaction_id="t", user_id="u", type=pb.TRANSACTION_TYPE_TRANSFER_OUT),
            )
        ),
        {"transaction.amount"},
    ),
]


def _login_at(occurred_at: Timestamp) -> pb.FlagTransactionRequest:
    login = pb.Transaction(transaction_id="t", user_id="u", type=pb.TRANSACTION_TYPE_LOGIN, occurred_at=occurred_at)
    return pb.FlagTransactionRequest(request_id=request_id(), transaction=login)


def _without(message: Any, field: str) -> Any:
    message.ClearField(field)
    return message


@pytest.mark.parametrize(("label", "call", "fields"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_is_invalid_argument_naming_every_bad_field(
    decisions: pb_grpc.DecisionServiceStub, label: str, call: Callable[[Any], Any], fields: set[str]
) -> None:
    error = rpc_error(lambda: call(decisions))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_fields(error)) == fields
    assert error_reason(error) == ("decisiond", "INVALID_REQUEST")


def test_a_call_with_more_bad_fields_than_a_reply_can_hold_is_still_invalid_argument(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """64 attributes of the wrong kind under the longest names: listed whole, the BadRequest would pass the 8 KiB of
    trailers a client takes (beyond which it refuses them at random, and the caller sees RESOURCE_EXHAUSTED, which
    says retry). The reply lists as many as fit and says how many more there are; every time."""
    names = [f"a{i:02d}" + "x" * 61 for i in range(64)]
    for _ in range(20):
        error = rpc_error(lambda: decisions.GrantLimit(_applicant(attributes={name: [1] for name in names})))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        listed = bad_fields(error)
        assert len(set(listed)) == len(listed) and set(listed) <= {f"applicant.attributes.{name}" for name in names}
        assert 20 <= len(listed) < 64
        said = error.details() or ""
        assert f"and 61 more, of which the BadRequest details list the first {len(listed) - 3}" in said
        assert dict(error_info(error).metadata) == {"violations": "64", "violations_listed": str(len(listed))}


def test_an_enum_refused_is_told_the_values_it_may_take_as_the_contract_spells_them(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """'must be EQUAL_INSTALLMENT, ...': a client that wrote that in proto3 JSON was refused by its own library (the
    contract's name is REPAYMENT_METHOD_EQUAL_INSTALLMENT), or sent 0 and was refused again."""
    method = violations(rpc_error(lambda: decisions.AuthorizeDrawdown(drawdown("u1", 100, repayment_method=42))))
    offered = method["repayment_method"].removeprefix("must be one of ").split(", ")
    assert offered == [v.name for v in pb.RepaymentMethod.DESCRIPTOR.values if v.number]
    unspecified = pb.FlagTransactionRequest(request_id=request_id(), transaction=pb.Transaction(transaction_id="t",
                                                                                                 user_id="u"))
    kind = violations(rpc_error(lambda: decisions.FlagTransaction(unspecified)))
    offered = kind["transaction.type"].removeprefix("must be one of ").split(", ")
    assert offered == [v.name for v in pb.TransactionType.DESCRIPTOR.values if v.number]
    assert error_info(rpc_error(lambda: decisions.FlagTransaction(unspecified))).metadata["violations"] == "1"


def test_a_declared_attribute_refused_by_the_request_and_by_the_bundle_is_named_once(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """Too long for any request, and not a whole number as bundle.yaml declares it: it was named twice, once with
    each limit."""
    error = rpc_error(lambda: decisions.GrantLimit(_applicant(attributes={"employment_months": "x" * 1025})))
    assert bad_fields(error) == ["applicant.attributes.employment_months"]
    assert violations(error) == {"applicant.attributes.employment_months": "must be at most 256 characters"}


def test_bad_ledger_calls_are_invalid_argument(ledger: pb_grpc.CreditLineServiceStub) -> None:
    error = rpc_error(lambda: ledger.GetCreditLine(pb.GetCreditLineRequest()))
    assert bad_fields(error) == ["user_id"]
    error = rpc_error(
        lambda: ledger.RecordRepayment(pb.RecordRepaymentRequest(request_id=request_id(), user_id="u", amount=cny(0)))
    )
    assert set(bad_fields(error)) == {"drawdown_id", "amount.minor_units"}


def test_an_invalid_drawdown_changes_nothing(
    decisions: pb_grpc.DecisionServiceStub, ledger: pb_grpc.CreditLineServiceStub
) -> None:
    user = new_user()
    open_line(decisions, user)
    rpc_error(lambda: decisions.AuthorizeDrawdown(drawdown(user, 1_000, purpose="not a code")))
    line = ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user))
    assert line.outstanding_principal == cny(0)


def test_the_largest_amount_at_the_earliest_time_is_decided_again_and_again(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """The bounds themselves are valid input, however often they come."""
    user = new_user()
    for _ in range(3):
        transfer = pb.Transaction(
            transaction_id=request_id(),
            user_id=user,
            type=pb.TRANSACTION_TYPE_TRANSFER_OUT,
            amount=pb.Money(currency="CNY", minor_units=10**15 - 1),
            occurred_at=Timestamp(seconds=0),
            counterparty_id="cp-1",
        )
        answer = decisions.FlagTransaction(pb.FlagTransactionRequest(request_id=request_id(), transaction=transfer))
        assert answer.outcome != pb.OUTCOME_UNSPECIFIED and answer.meta.decision_id


def nested_attribute(depth: int) -> bytes:
    """A ScoreUserRequest whose applicant has an attribute holding a structure `depth` deep (beyond protobuf's
    recursion limit at ~33), written byte by byte as a client could send it."""
    def sized(tag: bytes, body: bytes) -> bytes:
        return tag + _VarintBytes(len(body)) + body

    value = b"\x19" + bytes(8)  # Value.number_value = 0
    for _ in range(depth):
        value = sized(b"\x2a", sized(b"\x0a", b"\x0a\x01a" + sized(b"\x12", value)))  # {a: value} as a Value
    attributes = sized(b"\x0a", b"\x0a\x06tenure" + sized(b"\x12", value))
    applicant = strong_applicant("u-deep").SerializeToString() + sized(b"\x82\x01", attributes)
    return b"\x0a\x06deep-1" + sized(b"\x12", applicant)


UNDECODABLE = [
    ("/decision.v1.DecisionService/AuthorizeDrawdown", b"\xff\xff\xff\xff", "decision.v1.AuthorizeDrawdownRequest"),
    ("/decision.v1.CreditLineService/GetCreditLine", b"\x0a\x03\xff\xfe\xfd", "decision.v1.GetCreditLineRequest"),
    ("/decision.v1.RulesService/GetRulesStatus", b"\x0a", "decision.v1.GetRulesStatusRequest"),
    ("/decision.v1.DecisionService/ScoreUser", nested_attribute(40), "decision.v1.ScoreUserRequest"),
]


@pytest.mark.parametrize(("method", "body", "message_type"), UNDECODABLE,
                         ids=["garbage", "not UTF-8", "cut short", "nested too deep"])
def test_a_request_protobuf_cannot_decode_is_invalid_argument_naming_its_type(
    channel: grpc.Channel, decisions: pb_grpc.DecisionServiceStub, method: str, body: bytes, message_type: str
) -> None:
    call = channel.unary_unary(method)  # no serializers: the body goes out as it is
    error = rpc_error(lambda: call(body, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message_type in (error.details() or "") and "class" not in (error.details() or "")
    assert "not UTF-8, bytes cut short or garbled, or values nested too deep" in (error.details() or "")
    assert decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u1"))).score


def test_declared_attributes_of_their_kind_nulls_and_names_the_bundle_does_not_declare_are_decided(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    for attributes in ({"employment_months": 36}, {"employment_months": None}, {"not_declared": 2.5}):
        answer = decisions.GrantLimit(_applicant(user_id=new_user(), attributes=attributes))
        assert answer.outcome == pb.OUTCOME_APPROVE, attributes


def test_a_retry_after_the_rules_declared_one_of_its_attributes_is_replayed_not_refused(tmp_path: Path) -> None:
    """Decided (and a line opened) while the bundle did not declare `tenure_note`; the retry, under a bundle that
    declares it as a whole number, still gets the stored answer."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    settings = Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=f"sqlite:///{tmp_path / 'l.db'}")
    service = start_service(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decisions = pb_grpc.DecisionServiceStub(channel)
            grant = _applicant(user_id=new_user(), attributes={"tenure_note": "ten years"})
            score = pb.ScoreUserRequest(request_id=request_id(), applicant=grant.applicant)
            first_grant, first_score = decisions.GrantLimit(grant), decisions.ScoreUser(score)
            bundle = rules / "bundle.yaml"
            bundle.write_text(bundle.read_text().replace(
                "attributes:\n", "attributes:\n  tenure_note:\n    type: int\n    default: 0\n"
                "    description: Years with the bank\n", 1).replace('version: "2026.12-2"', 'version: "2026.12-3"'))
            assert service.rules.reload().version == "2026.12-3"
            again_grant, again_score = decisions.GrantLimit(grant), decisions.ScoreUser(score)
            assert again_grant.meta.replayed and again_score.meta.replayed
            assert again_grant.meta.decision_id == first_grant.meta.decision_id
            assert again_score.meta.decision_id == first_score.meta.decision_id
            refused = rpc_error(lambda: decisions.GrantLimit(_applicant(user_id=new_user(),
                                                                         attributes={"tenure_note": "ten years"})))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT  # a new request is held to the new bundle
            assert bad_fields(refused) == ["applicant.attributes.tenure_note"]
    finally:
        service.stop()
