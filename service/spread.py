"""Client connections spread evenly over the workers that share the port.

The workers share their port with SO_REUSEPORT, and left to itself the kernel gives each new connection to a worker
picked by a hash of its addresses: with a handful of client connections that is a draw, and three or all four of
them often land on one worker (measured, bench/README.md). One worker runs its calls on one CPU, so the machine's
other CPU then idles while calls queue: about 30 % fewer calls answered, and a longer tail. Here a small program
attached to the port's reuse group (eBPF, `BPF_PROG_TYPE_SK_REUSEPORT`) gives each new connection to the worker
holding the fewest: every worker has a slot in two kernel maps, its listening socket in one and its count of
connections in the other. The program counts each connection it places at once, so a burst of connections spreads
too; the supervisor writes the true counts back every REFRESH_S, as connections close. Should the program find no
socket in the slot it picked (a worker being replaced), the kernel falls back to its hash.

Among workers holding equally few, the program takes them in turn, starting after the one it chose last. That
keeps the spread even as the workers age their connections out (every connection_age_seconds, server.py): the
client replaces an aged connection while the old one still counts (it finishes its calls, and the supervisor
counts it gone only at its next refresh), so the workers usually tie, and the worker losing the connection is the
one holding the oldest, which, the connections having been placed in turn, is the one whose turn comes next.
Taking the first of equals sent half the replacements to the wrong worker: over 60 s of AuthorizeDrawdown at 16
in flight on 4 connections, 22 % of `ss` samples found three of them on one worker, against 2 % in turn (bench/
README.md). Connections a client opens at the same moment age out in an order the ageing's jitter draws, so for
their first rounds neither rule does better.

Linux only, and the kernel must let the process load the program (root, or CAP_BPF and CAP_NET_ADMIN); where it
does not, `create` raises SpreadUnavailable and the kernel's hash spreads the connections as before.
"""

from __future__ import annotations

import ctypes
import os
import platform
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator

import structlog

from service.api.listener import listening_descriptors, socket_inodes

log = structlog.get_logger("decisiond.spread")

REFRESH_S = 1.0  # how often the supervisor writes the true counts (asking the kernel takes ~2 ms: not more often)

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_MAP_CREATE, _MAP_UPDATE_ELEM, _PROG_LOAD = 0, 2, 5
_MAP_ARRAY, _MAP_REUSEPORT_SOCKARRAY = 2, 20
_PROG_SK_REUSEPORT, _ATTACH_SK_REUSEPORT_SELECT = 21, 39
_SO_ATTACH_REUSEPORT_EBPF = 52
_HELPER_MAP_LOOKUP_ELEM, _HELPER_SK_SELECT_REUSEPORT = 1, 82
_SK_PASS = 1
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _TCP_ESTABLISHED = 4, 20, 1
_NLM_F_REQUEST, _NLM_F_DUMP, _NLMSG_ERROR, _NLMSG_DONE = 0x1, 0x300, 2, 3
_ATTR_SIZE = 128  # bytes of `union bpf_attr` passed; the kernel wants the unused rest zeroed
_LOG_SIZE = 1 << 16


class SpreadUnavailable(RuntimeError):
    """The kernel would not load the program or its maps; the message says why."""


class ConnectionSpread:
    """The maps and the program for `slots` workers (file descriptors that workers inherit by number)."""

    def __init__(self, sockets_map: int, loads_map: int, program: int, slots: int) -> None:
        self.sockets_map = sockets_map
        self.loads_map = loads_map
        self.program = program
        self.slots = slots
        self._counting: threading.Thread | None = None

    @classmethod
    def create(cls, slots: int) -> ConnectionSpread:
        """New maps and the program that reads them."""
        sockets_map = loads_map = -1
        try:
            sockets_map = _bpf(_MAP_CREATE, struct.pack("<IIIII", _MAP_REUSEPORT_SOCKARRAY, 4, 8, slots, 0))
            # a count per slot, then the slot chosen last (the first choice goes to slot 0)
            loads_map = _bpf(_MAP_CREATE, struct.pack("<IIIII", _MAP_ARRAY, 4, 4, slots + 1, 0))
            _update(loads_map, slots, struct.pack("<I", slots - 1))
            program = _load_program(_least_connections(sockets_map, loads_map, slots))
        except OSError as error:
            for descriptor in (sockets_map, loads_map):
                if descriptor >= 0:
                    os.close(descriptor)
            raise SpreadUnavailable(f"the kernel refused the connection-spreading program: {error.strerror}") from error
        return cls(sockets_map, loads_map, program, slots)

    @classmethod
    def inherited(cls, described: str) -> ConnectionSpread:
        """The spread a worker was handed (`describe()`'s text)."""
        sockets_map, loads_map, program, slots = (int(part) for part in described.split(","))
        return cls(sockets_map, loads_map, program, slots)

    def describe(self) -> str:
        return f"{self.sockets_map},{self.loads_map},{self.program},{self.slots}"

    def descriptors(self) -> tuple[int, int, int]:
        """What a worker must inherit."""
        return self.sockets_map, self.loads_map, self.program

    def worker_arguments(self, slot: int) -> list[str]:
        """The command-line arguments that hand a worker the spread and its slot (it also inherits `descriptors`)."""
        return ["--spread", self.describe(), "--slot", str(slot)]

    def join(self, listening: socket.socket, slot: int) -> None:
        """Put a worker's listening socket in its slot, with no connections counted yet, and make sure the program
        chooses for the socket's reuse group."""
        self.set_connections(slot, 0)
        _update(self.sockets_map, slot, struct.pack("<Q", listening.fileno()))
        listening.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_EBPF, struct.pack("<i", self.program))

    def set_connections(self, slot: int, count: int) -> None:
        _update(self.loads_map, slot, struct.pack("<I", count))

    def keep_counting(self, pids: Callable[[], list[int]], port: int, stop: threading.Event) -> None:
        """On a thread of its own until `stop` is set: every REFRESH_S, write the workers' counts of established
        connections on `port` into their slots (`pids()`: the workers' process ids, by slot). Set `stop` before
        `close`, which waits for the thread."""

        def count() -> None:
            try:
                while not stop.wait(REFRESH_S):
                    for slot, connections in enumerate(connections_of(pids(), port)):
                        self.set_connections(slot, connections)
            except OSError as error:  # the program still spreads, by the connections it placed
                log.warning("connections.counts_stopped", reason=str(error))

        self._counting = threading.Thread(target=count, name="connection-counts", daemon=True)
        self._counting.start()

    def close(self) -> None:
        if self._counting is not None:
            self._counting.join()
        for descriptor in self.descriptors():
            os.close(descriptor)


def open_spread(workers: int, mode: str) -> ConnectionSpread | None:
    """The spread for a supervisor of `workers` workers: None where `mode` is off or one worker takes every
    connection anyway. Raises SpreadUnavailable where the kernel refuses it."""
    if mode == "off" or workers < 2:
        return None
    return ConnectionSpread.create(workers)


def join_spread(described: str, port: int, slot: int) -> str | None:
    """A worker: put its own socket listening on `port` in `slot` of the spread it was handed; None once done,
    else why not (the kernel's hash then still brings the worker its share of connections)."""
    descriptors = listening_descriptors(port)
    if not descriptors:
        return f"no socket of this process listens on port {port}"
    try:
        with socket.socket(fileno=os.dup(descriptors[0])) as duplicate:
            ConnectionSpread.inherited(described).join(duplicate, slot)
    except OSError as error:
        return str(error)
    return None


def connections_of(pids: Iterable[int], port: int) -> list[int]:
    """How many established connections on `port` each process holds (0 for a process that is gone)."""
    established = established_inodes(port)
    return [sum(1 for inode in socket_inodes(pid).values() if inode in established) for pid in pids]


def established_inodes(port: int) -> set[str]:
    """Inodes of the established TCP connections on local `port`, asked of the kernel's socket diagnostics
    (netlink): /proc/net/tcp walks every bucket of the connection table as text, a few milliseconds a read."""
    inodes: set[str] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as diagnostics:
        for family in (socket.AF_INET, socket.AF_INET6):
            request = struct.pack("<BBBBI48x", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_ESTABLISHED)
            header = struct.pack("<IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
            diagnostics.send(header + request)
            inodes.update(_dumped_inodes(diagnostics, port))
    return inodes


def _dumped_inodes(diagnostics: socket.socket, port: int) -> Iterator[str]:
    """The inodes of the dumped sockets whose local port is `port`, until the dump's end."""
    while True:
        data = diagnostics.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("<IH", data, offset)
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("<i", data, offset + 16)
                raise OSError(-error, os.strerror(-error))
            local_port = struct.unpack_from(">H", data, offset + 16 + 4)[0]
            if local_port == port:
                yield str(struct.unpack_from("<I", data, offset + 16 + 68)[0])
            offset += (length + 3) & ~3


# -- the program -----------------------------------------------------------------------------------------


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _load_map(register: int, map_fd: int) -> bytes:
    """register = the map (a 64-bit load of a map's file descriptor, two instructions)."""
    return _insn(0x18, register, 1, 0, map_fd) + _insn(0)


def _least_connections(sockets_map: int, loads_map: int, slots: int) -> bytes:
    """r7 = the slot with the fewest connections, of equals the first after the slot chosen last (loads[slots]);
    remember it, count one more there; select its socket; always SK_PASS, so that a slot without a socket
    leaves the choice to the kernel's hash. Each slot is ranked by count * slots + its place in the turn,
    (slot + slots - 1 - last) % slots, and the lowest rank wins."""
    key = -4  # the map key, a u32 on the stack
    program = _insn(0xBF, 6, 1)  # r6 = the context
    program += _lookup(loads_map, key, slots)  # r0 = &loads[slots] or NULL
    program += _insn(0xB7, 9, 0, 0, slots - 1) + _insn(0x15, 0, 0, 1, 0)  # r9 = the slot chosen last
    program += _insn(0x61, 9, 0, 0, 0)
    program += _insn(0xB7, 7, 0, 0, 0) + _insn(0xB7, 8, 0, 0, -1)  # r7 = slot 0, r8 = the lowest rank so far
    for slot in range(slots):
        program += _lookup(loads_map, key, slot)  # r0 = &loads[slot] or NULL
        program += _insn(0x15, 0, 0, 9, 0)  # NULL: next slot
        program += _insn(0x61, 3, 0, 0, 0) + _insn(0x27, 3, 0, 0, slots)  # r3 = loads[slot] * slots
        program += _insn(0xB7, 4, 0, 0, slot + slots - 1) + _insn(0x1F, 4, 9)  # r4 = slot + slots - 1 - last
        program += _insn(0x97, 4, 0, 0, slots) + _insn(0x0F, 3, 4)  # r3 += r4 % slots
        program += _insn(0x3D, 3, 8, 2, 0)  # r3 >= r8: next slot
        program += _insn(0xBF, 8, 3) + _insn(0xB7, 7, 0, 0, slot)
    program += _lookup(loads_map, key, slots)
    program += _insn(0x15, 0, 0, 1, 0) + _insn(0x63, 0, 7, 0)  # loads[slots] = r7, the slot chosen last
    program += _insn(0x63, 10, 7, key)  # key = r7
    program += _load_map(1, loads_map) + _insn(0xBF, 2, 10) + _insn(0x07, 2, 0, 0, key)
    program += _insn(0x85, 0, 0, 0, _HELPER_MAP_LOOKUP_ELEM)
    program += _insn(0x15, 0, 0, 2, 0)  # NULL: nothing to count
    program += _insn(0xB7, 1, 0, 0, 1) + _insn(0xC3, 0, 1, 0, 0)  # loads[r7] += 1, atomically
    program += _insn(0xBF, 1, 6) + _load_map(2, sockets_map) + _insn(0xBF, 3, 10) + _insn(0x07, 3, 0, 0, key)
    program += _insn(0xB7, 4, 0, 0, 0) + _insn(0x85, 0, 0, 0, _HELPER_SK_SELECT_REUSEPORT)
    program += _insn(0xB7, 0, 0, 0, _SK_PASS) + _insn(0x95)
    return program


def _lookup(map_fd: int, key: int, index: int) -> bytes:
    """r0 = &map[index] or NULL, the key written at r10 + key on the stack."""
    program = _insn(0x62, 10, 0, key, index)  # key = index
    program += _load_map(1, map_fd) + _insn(0xBF, 2, 10) + _insn(0x07, 2, 0, 0, key)
    return program + _insn(0x85, 0, 0, 0, _HELPER_MAP_LOOKUP_ELEM)


# -- the system call ------------------------------------------------------------------------------------


def _bpf(command: int, attributes: bytes) -> int:
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(0, f"no bpf system call known on {platform.machine()}")
    buffer = ctypes.create_string_buffer(attributes, _ATTR_SIZE)
    result: int = _LIBC.syscall(number, command, buffer, _ATTR_SIZE)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def _update(map_fd: int, key: int, value: bytes) -> None:
    key_buffer = ctypes.create_string_buffer(struct.pack("<I", key))
    value_buffer = ctypes.create_string_buffer(value)
    _bpf(_MAP_UPDATE_ELEM, struct.pack("<IIQQQ", map_fd, 0, ctypes.addressof(key_buffer),
                                       ctypes.addressof(value_buffer), 0))


def _load_program(instructions: bytes) -> int:
    code = ctypes.create_string_buffer(instructions)
    license_text = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attributes = struct.pack(
        "<IIQQIIQII16sII", _PROG_SK_REUSEPORT, len(instructions) // 8, ctypes.addressof(code),
        ctypes.addressof(license_text), 1, _LOG_SIZE, ctypes.addressof(log), 0, 0, b"spread_conns", 0,
        _ATTACH_SK_REUSEPORT_SELECT)
    try:
        return _bpf(_PROG_LOAD, attributes)
    except OSError as error:
        verifier = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise OSError(error.errno, f"{error.strerror} {verifier[0]}".strip()) from error


_LIBC = ctypes.CDLL(None, use_errno=True)
