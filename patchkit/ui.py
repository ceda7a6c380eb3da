"""One progress style for every stage: 'I: <stage>: PASS in 0:01:12'.

Stages print one line when they end; long stages may show a live rich status
while they run (only on a terminal).  Full tool output never goes to the
terminal: it goes to the stage's log file, whose path is printed on failure.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from datetime import timedelta

QUIET = False


def duration(seconds: float) -> str:
    return str(timedelta(seconds=int(round(seconds))))


def info(stage: str, msg: str) -> None:
    if not QUIET:
        print(f"I: {stage}: {msg}", file=sys.stderr, flush=True)


def warn(stage: str, msg: str) -> None:
    print(f"W: {stage}: {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    print(f"E: {msg}", file=sys.stderr, flush=True)


@contextmanager
def stage(name: str, what: str = ""):
    """Time a stage; print PASS/FAIL with its duration when it ends."""
    start = time.monotonic()
    status = None
    if what and not QUIET and sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status(f"{name}: {what}")
        status.start()
    try:
        yield
    except BaseException:
        if status:
            status.stop()
        info(name, f"FAIL in {duration(time.monotonic() - start)}")
        raise
    if status:
        status.stop()
    info(name, f"PASS in {duration(time.monotonic() - start)}")
