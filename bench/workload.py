"""Realistic, varied request streams: many users, a mix of approvals, declines and flags, no request repeated.

Requests are built with the shared builders of tests/support/builders.py and serialized once, before the
measured window, so that the load generator spends its CPU on calls, not on building messages. A stream
is deterministic for a seed (only request ids, which are fresh uuids, differ between two runs).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from google.protobuf.message import Message

from service._gen.decision.v1 import decision_pb2 as pb
from tests.support.builders import cny, drawdown, request_id, strong_applicant, weak_applicant

RPCS = ("ScoreUser", "GrantLimit", "FlagTransaction", "AuthorizeDrawdown")

Call = tuple[str, bytes]  # (RPC name in DecisionService, serialized request)

PROHIBITED_PURPOSES = ("SECURITIES", "FUTURES", "HOME_PURCHASE")
ALLOWED_PURPOSES = ("CONSUMPTION", "CONSUMPTION", "CONSUMPTION", "EDUCATION", "TRAVEL", "HOME_RENOVATION")
MULE_ACCOUNTS = ("CP-MULE-0001", "CP-MULE-0002", "CP-MULE-0003")  # rules/lists/mule_counterparties.txt
MERCHANT_CATEGORIES = ("5411", "5812", "5999", "4121", "5732", "7011")
CITIES = ("Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Chengdu", "Wuhan")
OFFERED_TERMS = (3, 6, 6, 12, 12)  # rules/drawdown.yaml DRW-002


@dataclass(frozen=True)
class Population:
    """The users a run works on: `size` users named from a prefix unique to the benchmark run.

    `setup_calls` gives each of them a credit line through GrantLimit; one in twenty is a weak applicant and
    is declined, so drawdowns of those users meet NO_CREDIT_LINE. Their usual device is first seen with
    their first drawdown or account event, as in life (a large first drawdown is referred: NEW_DEVICE).
    """

    prefix: str
    size: int

    def user(self, index: int) -> str:
        return f"{self.prefix}-{index:07d}"

    @staticmethod
    def device(user: str) -> str:
        return f"dev-{user}"  # the device tests.support.builders.drawdown uses by default

    @staticmethod
    def has_line(index: int) -> bool:
        return index % 20 != 7


def _call(rpc: str, request: Message) -> Call:
    return rpc, request.SerializeToString()


def setup_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """Grant every user of the population a limit (incomes varied, so limits are too)."""
    for index in range(population.size):
        user = population.user(index)
        income = cny(rng.choice((90_000, 150_000, 240_000, 400_000, 900_000)))
        applicant = strong_applicant(user, annual_income=income) if population.has_line(index) else weak_applicant(user)
        yield _call("GrantLimit", pb.GrantLimitRequest(request_id=request_id(), applicant=applicant))


def _mixed_applicant(user: str, rng: random.Random) -> pb.Applicant:
    """Somewhere between the weak and the strong applicant, field by field: all bands, all reasons."""
    return strong_applicant(
        user,
        age=rng.randint(18, 70),
        annual_income=cny(rng.randrange(20_000, 2_000_000, 1_000)),
        monthly_spend_avg=cny(rng.randrange(0, 30_000, 100)),
        active_spend_months=rng.randint(0, 12),
        on_time_repayments_24m=rng.randint(0, 24),
        overdue_count_24m=rng.choice((0, 0, 0, 1, 2, 5)),
        max_days_overdue_24m=rng.choice((0, 0, 0, 5, 30, 90)),
        credit_inquiries_6m=rng.randint(0, 10),
        financial_assets=cny(rng.randrange(0, 500_000, 1_000)),
        account_age_months=rng.randint(1, 150),
        verified_contacts=rng.randint(0, 60),
    )


def _applicant(user: str, rng: random.Random) -> pb.Applicant:
    roll = rng.random()
    if roll < 0.45:
        return strong_applicant(user, annual_income=cny(rng.randrange(60_000, 3_000_000, 1_000)))
    if roll < 0.70:
        return weak_applicant(user, verified_contacts=rng.randint(0, 5))
    if roll < 0.95:
        return _mixed_applicant(user, rng)
    if roll < 0.975:
        return strong_applicant(user, age=rng.randint(16, 17))  # under age
    return strong_applicant(user, real_name_verified=False)


def score_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """People asking for a score: strong, weak and in-between, each a new person."""
    serial = 0
    while True:
        serial += 1
        user = f"{population.prefix}-s{serial:08d}"
        yield _call("ScoreUser", pb.ScoreUserRequest(request_id=request_id(), applicant=_applicant(user, rng)))


def grant_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """Limit applications from new people: approvals at many limits, declines for score, age, verification."""
    serial = 0
    while True:
        serial += 1
        user = f"{population.prefix}-g{serial:08d}"
        yield _call("GrantLimit", pb.GrantLimitRequest(request_id=request_id(), applicant=_applicant(user, rng)))


def _transaction(user: str, device: str, rng: random.Random) -> pb.Transaction:
    roll = rng.random()
    channel = pb.Channel(device_id=device, ip="10.1.2.3", country="CN", city=rng.choice(CITIES))
    fields: dict[str, object] = {"transaction_id": request_id()[:32], "user_id": user, "channel": channel}
    if roll < 0.35:
        fields["type"] = pb.TRANSACTION_TYPE_LOGIN
    elif roll < 0.42:
        fields["type"] = pb.TRANSACTION_TYPE_LOGIN
        fields["channel"] = pb.Channel(device_id=f"new-{request_id()[:12]}", country=rng.choice(("CN", "CN", "SG")))
    elif roll < 0.67:
        fields.update(type=pb.TRANSACTION_TYPE_PAYMENT, merchant_category=rng.choice(MERCHANT_CATEGORIES))
        fields["amount"] = cny(rng.randrange(10, 5_000))
    elif roll < 0.84:
        fields.update(type=pb.TRANSACTION_TYPE_TRANSFER_OUT, counterparty_id=f"acct-{rng.randrange(100_000)}")
        fields["amount"] = cny(rng.randrange(100, 20_000))
    elif roll < 0.89:
        fields.update(type=pb.TRANSACTION_TYPE_TRANSFER_OUT, counterparty_id=rng.choice(MULE_ACCOUNTS))
        fields["amount"] = cny(rng.randrange(100, 20_000))
    elif roll < 0.92:
        fields["type"] = pb.TRANSACTION_TYPE_PASSWORD_CHANGE
    elif roll < 0.94:
        fields["type"] = pb.TRANSACTION_TYPE_PHONE_CHANGE
    else:
        fields.update(type=pb.TRANSACTION_TYPE_REPAYMENT, amount=cny(rng.randrange(100, 5_000)))
    return pb.Transaction(**fields)  # type: ignore[arg-type]


def flag_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """Account activity of the population: logins, payments, transfers (some to mule accounts), credential
    changes and repayments, mostly from the usual device."""
    while True:
        user = population.user(rng.randrange(population.size))
        transaction = _transaction(user, population.device(user), rng)
        yield _call("FlagTransaction", pb.FlagTransactionRequest(request_id=request_id(), transaction=transaction))


def _drawdown_fields(user: str, rng: random.Random) -> dict[str, object]:
    roll = rng.random()
    fields: dict[str, object] = {
        "term_months": rng.choice(OFFERED_TERMS),
        "repayment_method": rng.choice(
            (pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT, pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL, pb.REPAYMENT_METHOD_BULLET)
        ),
        "purpose": rng.choice(ALLOWED_PURPOSES),
        "channel": pb.Channel(device_id=Population.device(user), ip="10.1.2.3", country="CN", city=rng.choice(CITIES)),
    }
    if roll < 0.04:
        fields["purpose"] = rng.choice(PROHIBITED_PURPOSES)
    elif roll < 0.06:
        fields["term_months"] = 9
        fields["repayment_method"] = pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT
    elif roll < 0.10:
        fields["channel"] = pb.Channel(device_id=Population.device(user), country=rng.choice(("US", "SG", "JP")))
    elif roll < 0.14:
        fields["channel"] = pb.Channel(device_id=f"new-{request_id()[:12]}", country="CN")
    return fields


def drawdown_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """Drawdowns across the population: mostly approved; declined for a prohibited purpose, a term not offered,
    an exhausted limit or no line; referred for a new device, another country or velocity (8 % of the calls
    come from a hot 1 % of users)."""
    hot = max(1, population.size // 100)
    while True:
        index = rng.randrange(hot) if rng.random() < 0.08 else rng.randrange(population.size)
        user = population.user(index)
        yuan = int(min(60_000, rng.lognormvariate(7.6, 1.0))) + 100  # median ~2,100 CNY, long tail
        yield _call("AuthorizeDrawdown", drawdown(user, yuan, **_drawdown_fields(user, rng)))


def mixed_calls(population: Population, rng: random.Random) -> Iterator[Call]:
    """All four streams interleaved, drawdowns and account activity weighted as a lender's day would be."""
    streams = [stream(population, rng) for stream in (score_calls, grant_calls, flag_calls, drawdown_calls)]
    weights = (1, 1, 4, 4)
    while True:
        yield next(rng.choices(streams, weights)[0])


STREAMS: dict[str, Callable[[Population, random.Random], Iterator[Call]]] = {
    "ScoreUser": score_calls,
    "GrantLimit": grant_calls,
    "FlagTransaction": flag_calls,
    "AuthorizeDrawdown": drawdown_calls,
    "Mixed": mixed_calls,
}
