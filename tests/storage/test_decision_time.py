"""A call's time never falls before a user's recorded events: replicas whose clocks differ, or a clock stepped back
(an NTP correction), must not hide a user's events from the fraud windows, which end at the decision's time.

The servicer is called in process, as the server's event loop would call it, on each store, with clocks the test
sets; two apps on one database stand for two replicas whose clocks differ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.servicers import DecisionServicer
from service.app.rules_holder import RulesHolder
from service.app.usecases import DecisionApp
from tests.storage.conftest import OpenStore
from tests.support.builders import drawdown, request_id, strong_applicant

RULES = Path(__file__).resolve().parents[2] / "rules"
NOON = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


class SetClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class Replica:
    """The decision servicer of one replica, on its own clock, its methods called as the event loop calls them."""

    def __init__(self, open_test_store: OpenStore, clock: SetClock) -> None:
        rules = RulesHolder(RULES)
        rules.reload()
        self.clock = clock
        self._servicer = DecisionServicer(DecisionApp(open_test_store(), rules, clock), None)  # type: ignore[arg-type]

    def call(self, rpc: str, request: Any) -> Any:
        answer = getattr(DecisionServicer, rpc).__wrapped__(self._servicer, request)
        return getattr(pb, f"{rpc}Response").FromString(answer) if isinstance(answer, bytes) else answer


def open_line(replica: Replica, user: str) -> None:
    request = pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user))
    granted = replica.call("GrantLimit", request)
    assert granted.outcome == pb.OUTCOME_APPROVE, granted


def decided_at(answer: Any) -> datetime:
    return answer.meta.decided_at.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def test_a_fourth_drawdown_through_a_replica_whose_clock_runs_behind_is_reviewed_for_velocity(
    open_test_store: OpenStore,
) -> None:
    ahead = Replica(open_test_store, SetClock(NOON + timedelta(seconds=2)))
    behind = Replica(open_test_store, SetClock(NOON))
    open_line(behind, "skewed")
    drawn = [ahead.call("AuthorizeDrawdown", drawdown("skewed", 200)) for _ in range(3)]
    assert [d.outcome for d in drawn] == [pb.OUTCOME_APPROVE] * 3

    fourth = behind.call("AuthorizeDrawdown", drawdown("skewed", 200))

    assert fourth.outcome == pb.OUTCOME_REVIEW, fourth
    assert [f.code for f in fourth.fraud_flags] == ["VELOCITY_HOURLY"]
    assert decided_at(fourth) > decided_at(drawn[-1])  # the record keeps the user's calls in their order


def test_after_the_clock_steps_back_a_user_is_decided_after_his_last_event_and_then_by_the_clock_again(
    open_test_store: OpenStore,
) -> None:
    replica = Replica(open_test_store, SetClock(NOON))
    open_line(replica, "stepped")
    drawn = [replica.call("AuthorizeDrawdown", drawdown("stepped", 200)) for _ in range(3)]
    replica.clock.at = NOON - timedelta(seconds=30)  # an NTP correction

    fourth = replica.call("AuthorizeDrawdown", drawdown("stepped", 200))
    assert [f.code for f in fourth.fraud_flags] == ["VELOCITY_HOURLY"]
    assert decided_at(fourth) == decided_at(drawn[-1]) + timedelta(microseconds=1)

    replica.clock.at = NOON + timedelta(minutes=1)  # the clock has caught up: its time is the decision's again
    later = replica.call("AuthorizeDrawdown", drawdown("stepped", 200))
    assert decided_at(later) == NOON + timedelta(minutes=1)
