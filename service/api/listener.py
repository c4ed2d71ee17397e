"""Stop a running gRPC server from taking new connections while it keeps serving the ones it has.

grpcio has no API for this. Workers share their port through SO_REUSEPORT; when a worker is being replaced,
shutting down its listening socket takes it out of the kernel's reuse-port group, so new connections go to
the new workers, while its open connections are moved over gracefully by connection ageing (GOAWAY without a
server shutdown). Only then is the server stopped, with no call left to refuse. Linux only: the listening
socket is found through /proc.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

_LISTEN = "0A"  # TCP state code in /proc/net/tcp*


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on this TCP port, from /proc/net/tcp and tcp6."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == _LISTEN:
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int | str = "self") -> dict[int, str]:
    """A process's socket file descriptors and their sockets' inodes (none for a process that is gone)."""
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return {}
    sockets = {}
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets[int(entry.name)] = target[8:-1]
    return sockets


def listening_descriptors(port: int) -> list[int]:
    """This process's file descriptors of sockets listening on the port."""
    inodes = listening_inodes(port)
    return [descriptor for descriptor, inode in socket_inodes().items() if inode in inodes]


def stop_listening(port: int) -> int:
    """Shut down this process's listening sockets on the port; returns how many. Accepted connections stay."""
    closed = 0
    for descriptor in listening_descriptors(port):
        # shutdown() acts on the socket itself, shared by the duplicate; closing the duplicate does not
        with socket.socket(fileno=os.dup(descriptor)) as duplicate:
            try:
                duplicate.shutdown(socket.SHUT_RDWR)
                closed += 1
            except OSError:
                pass
    return closed
