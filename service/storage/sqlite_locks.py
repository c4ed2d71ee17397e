"""Locks shared by every connection to one SQLite database, across threads and processes.

SQLite has one lock for writers and none for rows. Holding the write lock for a whole decision would
serialize every decision of every process, rules and all, although only its few writes need it. So a unit
of work reads without the write lock and takes it only at its first write (see sqlite.py), and what
PostgreSQL's ``SELECT ... FOR UPDATE`` gives, one credit line locked against other transactions, is given
here by a lock on one byte of a lock file beside the database: byte 0 for the writer, one byte per slot
of users above it.

They are open-file-description locks (Linux ``F_OFD_SETLK``): held per connection's own descriptor, so
threads of one process exclude each other as processes do, and released by the kernel if the process
dies. Waiting polls with short, growing pauses up to the store's timeout, then gives up with
StoreUnavailable.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time
import zlib

from service.domain.errors import StoreUnavailable

USER_SLOTS = 1 << 16  # two users share a slot (and wait for each other) one time in 65,536
_WRITER = 0
_FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)
_FIRST_PAUSE_S = 20e-6
_LONGEST_PAUSE_S = 1e-3

F_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)
F_OFD_SETLKW: int | None = getattr(fcntl, "F_OFD_SETLKW", None)
# The two requests every writing unit of work makes, packed once: the writer lock, and the release of every lock
# held (a length of 0 reaches to the file's end).
_LOCK_WRITER = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _WRITER, 1, 0)
_RELEASE_ALL = struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, _WRITER, 0, 0)


def _slot(user_key: str) -> int:
    return 1 + zlib.crc32(user_key.encode()) % USER_SLOTS  # the same in every process


class LockFile:
    """One connection's handle on the database's lock file: the writer lock and user locks it holds."""

    def __init__(self, path: str, timeout: float) -> None:
        if F_OFD_SETLK is None:  # pragma: no cover - Linux has had them since 3.15
            raise OSError("this system has no open-file-description locks (Linux 3.15 or newer is needed)")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._timeout = timeout
        self._users: set[int] = set()
        self.writing = False

    def lock_writer(self) -> None:
        """Wait for the database's writer lock (held until release_all)."""
        if not self.writing:
            self._lock(_LOCK_WRITER, "the SQLite write lock")
            self.writing = True

    def wait_for_writer(self) -> None:
        """Wait in the kernel for the writer lock, however long it takes (held until release_all).

        For a background thread whose process keeps writing: a poller rarely finds the lock free then, since
        it needs the interpreter lock to look and gets it mostly while the busy thread waits on SQLite, that
        is while the writer lock is held (measured: 30-120 ms to get it, against microseconds here)."""
        if not self.writing:
            assert F_OFD_SETLKW is not None
            fcntl.fcntl(self._fd, F_OFD_SETLKW, _LOCK_WRITER)
            self.writing = True

    def holds_user(self, user_key: str) -> bool:
        return _slot(user_key) in self._users

    def lock_user(self, user_key: str) -> None:
        """Wait for the lock on a user's slot (at once when this handle holds it already)."""
        slot = _slot(user_key)
        if slot not in self._users:
            self._lock(_lock_request(slot), "another call for the same user")
            self._users.add(slot)

    def try_lock_user(self, user_key: str) -> bool:
        """Take the lock on a user's slot if it is free (or held here already), without waiting."""
        slot = _slot(user_key)
        if slot in self._users:
            return True
        if not self._request(_lock_request(slot)):
            return False
        self._users.add(slot)
        return True

    def release_all(self) -> None:
        if self._users or self.writing:
            self._request(_RELEASE_ALL)  # one call for every lock held
        self._users.clear()
        self.writing = False

    def close(self) -> None:
        os.close(self._fd)  # the kernel drops any lock still held

    def _lock(self, request: bytes, what: str) -> None:
        """Take a lock, polling while another handle holds it, or give up with StoreUnavailable at the timeout."""
        if self._request(request):
            return
        deadline = time.monotonic() + self._timeout
        pause = _FIRST_PAUSE_S
        while True:
            time.sleep(pause)
            if self._request(request):
                return
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"timed out waiting for {what}")
            pause = min(pause * 2, _LONGEST_PAUSE_S)

    def _request(self, request: bytes) -> bool:
        """Make a lock request without waiting; False if another handle holds a lock in its way."""
        assert F_OFD_SETLK is not None
        try:
            fcntl.fcntl(self._fd, F_OFD_SETLK, request)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True


def _lock_request(offset: int) -> bytes:
    """The request for the lock on one byte of the lock file."""
    return struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
