"""One progress style for every stage: 'I: <stage>: PASS in 0:01:12'.

Stages print one line when they end.  While a long stage runs, a live line
says what it is doing: the build's elapsed time, objects compiled and last
target; a guest test's name as it ends.  On a terminal the live line is
rewritten in place (rich); elsewhere (CI logs, pipes) it is a plain line
every LIVE_EVERY seconds, never a carriage return.  -q turns all of it off.
Full tool output never goes to the terminal: it goes to the stage's log
file, whose path is printed on failure.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from patchkit import options

LIVE_EVERY = 30.0      # seconds between plain progress lines when not on a terminal
LAST_ENDED: tuple[str, float] | None = None   # (stage name, monotonic time) of the last stage() that ended


def duration(seconds: float) -> str:
    return str(timedelta(seconds=int(round(seconds))))


def info(stage: str, msg: str) -> None:
    if not options.current().quiet:
        print(f"I: {stage}: {msg}", file=sys.stderr, flush=True)


def warn(stage: str, msg: str) -> None:
    print(f"W: {stage}: {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    print(f"E: {msg}", file=sys.stderr, flush=True)


def on_terminal() -> bool:
    return sys.stderr.isatty()


_ACTIVE: list["Live"] = []


class Live:
    """The live line of one stage: update(text) shows text after the
    elapsed time.  A terminal gets a rich status rewritten in place; a pipe
    gets 'I: <stage>: <elapsed>, <text>' at most every LIVE_EVERY seconds;
    -q gets nothing."""

    def __init__(self, name: str, what: str = "", *, tty: bool | None = None, every: float | None = None):
        self.name = name
        self.what = what
        self.start = time.monotonic()
        self.tty = on_terminal() if tty is None else tty
        self.every = LIVE_EVERY if every is None else every
        self.text = ""
        self._last_plain = self.start
        self._status = None
        self._borrowed = False
        if self.tty and not options.current().quiet:
            outer = next((x for x in reversed(_ACTIVE) if x._status is not None), None)
            if outer is not None:
                # one status line on the terminal: a stage inside a stage (bench
                # builds, configure inside validate) takes it over until it ends
                self._status, self._borrowed = outer._status, True
                self._status.update(self._line())
            else:
                from rich.console import Console

                self._status = Console(stderr=True).status(self._line())
                self._status.start()
        _ACTIVE.append(self)

    def _line(self) -> str:
        parts = [duration(time.monotonic() - self.start)]
        if self.text:
            parts.append(self.text)
        elif self.what:
            parts.append(self.what)
        return f"{self.name}: " + ", ".join(parts)

    def update(self, text: str | None = None) -> None:
        if text is not None:
            self.text = text
        if options.current().quiet:
            return
        if self._status is not None:
            self._status.update(self._line())
            return
        now = time.monotonic()
        if now - self._last_plain >= self.every:
            self._last_plain = now
            print(f"I: {self._line()}", file=sys.stderr, flush=True)

    def event(self, msg: str) -> None:
        """A whole line that must not be lost (a test that ended): printed
        above the live line on a terminal, as a plain line elsewhere."""
        if options.current().quiet:
            return
        if self._status is not None:
            self._status.console.print(f"I: {self.name}: {msg}", highlight=False, markup=False)
        else:
            print(f"I: {self.name}: {msg}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._status is not None:
            if self._borrowed:
                outer = next((x for x in reversed(_ACTIVE) if x._status is self._status), None)
                if outer is not None:
                    self._status.update(outer._line())
            else:
                self._status.stop()
            self._status = None


@contextmanager
def stage(name: str, what: str = ""):
    """Time a stage; print PASS/FAIL with its duration when it ends.  Yields
    its Live line (update() it from a follow() of the stage's log)."""
    start = time.monotonic()
    live = Live(name, what)
    try:
        yield live
    except BaseException:
        live.stop()
        info(name, f"FAIL in {duration(time.monotonic() - start)}")
        _ended(name)
        raise
    live.stop()
    info(name, f"PASS in {duration(time.monotonic() - start)}")
    _ended(name)


def _ended(name: str) -> None:
    global LAST_ENDED
    LAST_ENDED = (name, time.monotonic())


def already_said(name: str, since: float) -> bool:
    """A stage() of this name ended after since: its PASS/FAIL line is out."""
    return LAST_ENDED is not None and LAST_ENDED[0] == name and LAST_ENDED[1] >= since


class Follower(threading.Thread):
    """Reads a log file while another process appends to it, calling
    reader.line(text) for each complete line, and live.update(reader.status())
    every tick.  The file may not exist yet when it starts."""

    def __init__(self, path: Path, reader, live: Live | None = None, tick: float = 0.5,
                 from_start: bool = False):
        super().__init__(daemon=True, name=f"follow {Path(path).name}")
        self.path = Path(path)
        self.reader = reader
        self.live = live
        self.tick = tick
        self.pos = 0
        self.partial = b""
        self._done = threading.Event()
        try:   # only what is written from now on (a log may be appended to)
            self.pos = 0 if from_start else self.path.stat().st_size
        except OSError:
            self.pos = 0

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size < self.pos:   # truncated: a new run writes it
                    self.pos, self.partial = 0, b""
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except OSError:
            return
        if not data:
            return
        data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        for raw in lines:
            try:
                self.reader.line(raw.decode("utf-8", "replace").rstrip("\r"))
            except Exception:   # a reader bug must never stop the build it watches
                pass

    def run(self) -> None:
        while not self._done.is_set():
            self.poll()
            if self.live is not None and hasattr(self.reader, "status"):
                self.live.update(self.reader.status())
            self._done.wait(self.tick)
        self.poll()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


@contextmanager
def follow(path: Path, reader, live: Live | None = None, from_start: bool = False):
    """Run a Follower of path for the duration of the block (nothing with -q)."""
    if reader is None:
        yield None
        return
    if live is None and hasattr(reader, "live"):
        live = reader.live
    f = Follower(path, reader, live, from_start=from_start)
    f.start()
    try:
        yield f
    finally:
        f.stop()
