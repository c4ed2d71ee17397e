"""Worker logs written in batches of whole lines."""

from __future__ import annotations

import io
import threading

from service.log_lines import FLUSH_SIZE, BatchedLines


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.written = threading.Event()

    def write(self, text: str) -> int:
        self.writes += 1
        self.written.set()
        return super().write(text)


def test_lines_are_written_together_and_whole_once_drained() -> None:
    target = CountingStream()
    lines = BatchedLines(target)
    for number in range(100):
        lines.write(f'{{"n": {number}}}\n')
        lines.flush()  # what the logger does after every line: nothing is written yet
    lines.drain()
    assert target.getvalue() == "".join(f'{{"n": {number}}}\n' for number in range(100))
    assert target.writes < 10  # a few batches (the periodic flush may cut one), not a write per line


def test_a_line_is_written_within_the_flush_interval_without_a_drain() -> None:
    target = CountingStream()
    BatchedLines(target).write("one line\n")
    assert target.written.wait(2)
    assert target.getvalue() == "one line\n"


def test_a_large_batch_is_written_at_once() -> None:
    target = CountingStream()
    lines = BatchedLines(target)
    line = "x" * 1000 + "\n"
    for _ in range(FLUSH_SIZE // len(line) + 1):
        lines.write(line)
    assert target.writes >= 1
    assert target.getvalue().endswith(line)
