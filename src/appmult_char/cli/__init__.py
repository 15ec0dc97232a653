"""The ``appmult-char`` command line.

Errors in the user's input print as one ``error: file:line: problem`` line with exit
status 1 (no traceback); warnings as ``warning: …`` lines; Ctrl-C as one line with exit
status 130, also while the program starts, and never leaves a partial output file.
The console entry point `run` takes SIGINT itself (`_on_interrupt`): a KeyboardInterrupt
raised inside a compiler callback (Numba's cache writer, a ctypes callback) can be
swallowed or turned into an unrelated error, so the handler removes the pending
temporary files and exits at once instead of raising.
Library modules are imported inside the commands so that ``--help`` and small jobs
start fast. The group is `app.main`; one module per command group: `circuits`
(simulate, metrics, info, generate), `analyses` (gradient, htp), `layers` (verify), `training` (retrain), `selection` (select);
`_common` and `_progress` hold what they share.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["main", "run"]

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def interrupted() -> None:
    """Report Ctrl-C in one line and exit with status 130."""
    sys.stderr.write("\ninterrupted\n")
    sys.exit(INTERRUPTED)


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C, or an error raised while handling it (a library cleaning up
    after the interrupt, e.g. Numba's compiler stopped halfway)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _on_interrupt(signum, frame) -> None:
    """SIGINT under `run`: remove unfinished output files, report, exit 130 without
    unwinding (nothing on the way can swallow or transform the interrupt)."""
    files = sys.modules.get("appmult_char.io._files")  # not imported: nothing was written
    if files is not None:
        files.discard_pending()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # closed, or interrupted mid-write
            pass
    os.write(2, b"\ninterrupted\n")
    os._exit(INTERRUPTED)


def run() -> None:
    """The console entry point: the command group, with Ctrl-C during start-up reported
    like Ctrl-C during a command."""
    try:
        signal.signal(signal.SIGINT, _on_interrupt)
    except KeyboardInterrupt:
        interrupted()
    try:
        from .app import main

        main(prog_name="appmult-char")
    except Exception as exc:
        if caused_by_interrupt(exc):
            interrupted()
        raise
    except KeyboardInterrupt:
        interrupted()


def __getattr__(name: str):
    if name == "main":
        from .app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
