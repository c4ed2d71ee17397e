"""The SQLite store's writer lock serves waiting threads in arrival order and honours timeouts."""

from __future__ import annotations

import threading
import time

from service.storage.sqlite import FairLock


def test_waiters_get_the_lock_in_the_order_they_asked() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[int] = []
    threads = []
    for number in range(5):
        thread = threading.Thread(target=lambda n=number: (lock.acquire(timeout=5), order.append(n), lock.release()))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # each thread is queued before the next one starts
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_a_waiter_that_times_out_leaves_the_queue() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)
    lock.release()
    assert lock.acquire(timeout=0.05), "the timed-out waiter must not have been handed the lock"
    lock.release()
