"""Progress reports on stderr for work that takes more than about a second.

On a terminal a bar is redrawn in place (at most ten times a second); elsewhere (logs,
pipes, CI) a plain line is written every `interval` seconds, so long jobs are never
silent and short ones print nothing. A background ticker keeps the report going while
one long step (a parse, a compile, a single kernel call) runs without updates.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Count `done` of `total` units of work under `label`; `note` names the current step."""

    def __init__(self, label: str, total: int, *, unit: str = "", delay: float = 1.0, interval: float = 10.0,
                 stream: TextIO | None = None):
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self.delay, self.interval = delay, interval
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done, self.note = 0, ""
        self.start = time.monotonic()
        self._last: float | None = None
        self.shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> "Progress":
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.1 if self.tty else min(self.interval, 1.0) or 0.05):
            self._report()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def update(self, n: int = 1, note: str | None = None) -> None:
        """Add `n` finished units; `note` replaces the step name shown."""
        self.done = min(self.total, self.done + int(n))
        if note is not None:
            self.note = note
        self._report()

    def step(self, note: str) -> None:
        """Name the step now running, without counting work."""
        self.update(0, note)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        share = self.done / self.total
        left = f", about {_clock(elapsed / share - elapsed)} left" if 0 < share < 1 else ""
        count = f" ({self.done}/{self.total}{' ' + self.unit if self.unit else ''})" if self.total > 1 else ""
        note = f" {self.note}" if self.note else ""
        if self.tty:
            bar = "#" * int(30 * share) + "-" * (30 - int(30 * share))
            return f"{self.label} [{bar}] {100 * share:3.0f}%{count} {_clock(elapsed)}{left}{note}"
        return f"{self.label}: {100 * share:.0f}%{count}, {_clock(elapsed)} elapsed{left}{note}"

    def _report(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._stop.is_set() or now - self.start < self.delay:
                return
            wait = 0.1 if self.tty else self.interval
            if self._last is not None and now - self._last < wait:
                return
            self._last = now
            self.shown = True
            self.stream.write("\r\033[K" + self._line() if self.tty else self._line() + "\n")
            self.stream.flush()

    def close(self, failed: bool = False) -> None:
        """End the report: a final line, only when something was shown."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if not self.shown:
            return
        elapsed = _clock(time.monotonic() - self.start)
        end = "stopped" if failed else "done"
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(f"{prefix}{self.label}: {end} after {elapsed}\n")
        self.stream.flush()
        self.shown = False
