"""A GetCreditLine is recorded in order with the calls that change the line: it waits for one under way for the same
user, then shows what that call committed (an auditor replays the record in time order and asks what the person was
shown when; reads that took no lock were recorded before a change they showed, or after one they did not)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.servicers import CreditLineServicer
from service.app.clock import SystemClock
from service.app.ports import Store
from service.app.pseudonyms import Pseudonyms
from service.app.rules_holder import RulesHolder
from service.app.usecases import DecisionApp
from service.domain.model import Drawdown, RepaymentMethod
from service.domain.schedule import build_schedule
from tests.storage.conftest import OpenStore
from tests.storage.test_decision_time import RULES, Replica, SetClock, open_line

A_READ_THAT_DID_NOT_WAIT_S = 0.5  # ample for a read that takes no lock to finish; well within the store's timeout
AMOUNT = 30_000  # fen


def draw_down_under_way(store: Store, user_key: str, locked: threading.Event, go_on: threading.Event) -> None:
    """What a drawdown's unit of work does, from another replica: lock the line, wait for `go_on`, draw, commit."""
    with store.unit_of_work() as uow:
        line, _ = uow.lock_line(user_key, latest_event=True)
        assert line is not None
        locked.set()
        go_on.wait()
        now = datetime.now(UTC)
        schedule = build_schedule(AMOUNT, 6, RepaymentMethod.EQUAL_INSTALLMENT, line.daily_interest_rate, now.date())
        drawn = Drawdown("dd-under-way", user_key, AMOUNT, 6, RepaymentMethod.EQUAL_INSTALLMENT,
                         line.daily_interest_rate, "CONSUMPTION", now, schedule)
        assert uow.draw_down(drawn) is not None


def test_a_balance_read_waits_for_a_drawdown_under_way_and_shows_it(open_test_store: OpenStore) -> None:
    replica = Replica(open_test_store, SetClock(datetime.now(UTC)))
    open_line(replica, "reader")
    rules = RulesHolder(RULES)
    rules.reload()
    lines = CreditLineServicer(DecisionApp(open_test_store(), rules, SystemClock()), None)  # type: ignore[arg-type]

    def outstanding() -> int:
        answer = CreditLineServicer.GetCreditLine.__wrapped__(lines, pb.GetCreditLineRequest(user_id="reader"))
        return pb.GetCreditLineResponse.FromString(answer).outstanding_principal.minor_units  # type: ignore[no-any-return]

    before = outstanding()
    other = open_test_store()
    user_key = Pseudonyms(other.pseudonym_key()).user_key("reader")
    locked, go_on = threading.Event(), threading.Event()
    writer = threading.Thread(target=draw_down_under_way, args=(other, user_key, locked, go_on))
    writer.start()
    assert locked.wait(5)
    shown: list[int] = []
    reader = threading.Thread(target=lambda: shown.append(outstanding()))
    reader.start()
    reader.join(A_READ_THAT_DID_NOT_WAIT_S)  # a read that took no lock has answered by now, from before the drawdown
    go_on.set()
    writer.join()
    reader.join()

    assert shown == [before + AMOUNT]
