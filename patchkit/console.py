"""Read a guest's serial console: kernel events and the guest test markers.

Two kinds of lines matter:

* kernel reports that mean something went wrong (panic, BUG, Oops,
  WARNING, KASAN, lockdep, sleeping in atomic context, hung task, soft or
  hard lockup, RCU stall, OOM kill), each classified into an Event;
* markers printed by the guest init (patchkit/guest/init), which say which
  test ran when, how it ended and what it measured:

      @@patchkit suite-start UPTIME
      @@patchkit test-start NAME
      @@patchkit allow-oom COMM [COMM...]     (a test may allow OOM kills of its own hogs)
      @@patchkit figure NAME KEY VALUE
      @@patchkit test-detail NAME TEXT
      @@patchkit test-end NAME STATUS SECONDS [{json figures}]
      @@patchkit suite-end STATUS

Each event is tied to the test running when it was printed (None: during
boot or between tests).  Markers and kernel lines may share a physical line
when the kernel prints in the middle of a test's output, so both are found
with a search, not a match at the start of the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"@@patchkit ([a-z-]+)(?: (.*))?$")
TIMESTAMP = re.compile(r"\[\s*\d+\.\d+\]\s?")

# (kind, pattern): the first pattern that matches names the event.  More
# specific reports come before the generic "BUG:" / "WARNING:" they start with.
PATTERNS: list[tuple[str, re.Pattern]] = [(kind, re.compile(rx)) for kind, rx in [
    ("kasan", r"BUG: KASAN: |KASAN: .*(out-of-bounds|use-after-free|invalid-free)"),
    ("sleep-in-atomic", r"BUG: sleeping function called from invalid context|BUG: scheduling while atomic"),
    ("soft-lockup", r"BUG: soft lockup"),
    ("lockdep", r"WARNING: possible recursive locking detected|WARNING: inconsistent lock state"
                r"|WARNING: possible circular locking dependency detected|WARNING: possible irq lock inversion"
                r"|WARNING: suspicious RCU usage|WARNING: bad unlock balance detected"
                r"|WARNING: held lock freed|WARNING: lock held when returning to user space"
                r"|BUG: held lock freed|BUG: MAX_LOCKDEP|INFO: possible recursive locking detected"),
    ("hung-task", r"INFO: task \S+ blocked for more than \d+ seconds"),
    ("rcu-stall", r"rcu: INFO: \S+ (self-)?detected stalls?|INFO: rcu_\S+ (self-)?detected stalls?"),
    ("hard-lockup", r"Watchdog detected hard LOCKUP|NMI watchdog: .*hard LOCKUP"),
    ("panic", r"Kernel panic - not syncing"),
    ("oops", r"\bOops: |^general protection fault"),
    ("bug", r"kernel BUG at |\bBUG: "),
    ("warning", r"WARNING: CPU: \d+ PID: \d+ at |^WARNING: at "),
    ("ubsan", r"UBSAN: "),
    ("oom-kill", r"(?:Memory cgroup )?[Oo]ut of memory(?: \(oom_kill_allocating_task\))?: Killed process \d+ \((?P<victim>[^)]*)\)"),
]]

EVENT_KINDS = [kind for kind, _ in PATTERNS] + ["timeout", "no-suite-end"]


@dataclass
class Event:
    kind: str  # one of EVENT_KINDS
    text: str  # the line that identified it, without the printk timestamp
    line: int  # 1-based line number in the console log (0: not from the log)
    test: str | None  # the guest test running then; None = boot / between tests
    victim: str | None = None  # oom-kill: the killed process's name
    allowed: bool = False  # an OOM kill the running test declared acceptable

    def describe(self) -> str:
        where = f"during {self.test}" if self.test else "outside any test"
        extra = " (allowed by the test)" if self.allowed else ""
        return f"{self.kind} {where}, console line {self.line}: {self.text}{extra}"


@dataclass
class TestRecord:
    name: str
    start_line: int
    end_line: int | None = None
    status: str | None = None  # PASS | FAIL | SKIP from the guest; None if it never ended
    seconds: float | None = None
    figures: dict = field(default_factory=dict)
    detail: str = ""
    allow_oom: set[str] = field(default_factory=set)


@dataclass
class Console:
    events: list[Event] = field(default_factory=list)
    tests: dict[str, TestRecord] = field(default_factory=dict)  # in start order
    suite_start_uptime: float | None = None
    suite_end: str | None = None
    kernel_started: bool = False
    last_lines: list[str] = field(default_factory=list)

    @property
    def running(self) -> str | None:
        """The test that started but never ended (the guest stopped inside it)."""
        for rec in self.tests.values():
            if rec.status is None:
                return rec.name
        return None

    def failing_events(self) -> list[Event]:
        return [e for e in self.events if not e.allowed]


def classify(text: str) -> tuple[str, str | None] | None:
    """(kind, oom victim or None) for a kernel line, or None if it is harmless."""
    for kind, rx in PATTERNS:
        m = rx.search(text)
        if m:
            return kind, (m.group("victim") if kind == "oom-kill" else None)
    return None


def parse_value(value: str):
    """A figure value: int or float when it looks like one, else the string."""
    if re.fullmatch(r"-?(0|[1-9]\d*)", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def parse(lines, *, kernel_lines_only: bool | None = None) -> Console:
    """Classify console lines (an iterable of str) into a Console.

    kernel_lines_only: classify only lines carrying a printk timestamp
    (so a test printing "BUG:" is not mistaken for the kernel).  None: decide
    from the log itself (timestamps seen on any line means yes).
    """
    lines = [line.rstrip("\r\n").replace("\r", "") for line in lines]
    if kernel_lines_only is None:
        kernel_lines_only = any(TIMESTAMP.search(line) for line in lines)
    con = Console()
    current: str | None = None
    for no, raw in enumerate(lines, start=1):
        if "Linux version" in raw:
            con.kernel_started = True
        m = MARKER.search(raw)
        # Kernel text printed before a marker on the same line came first.
        _kernel_text(con, raw[: m.start()] if m else raw, no, current, kernel_lines_only)
        if m:
            current = _marker(con, m.group(1), m.group(2) or "", no, current)
    con.last_lines = lines[-30:]
    return con


def _kernel_text(con: Console, raw: str, no: int, current: str | None, kernel_lines_only: bool) -> None:
    ts = TIMESTAMP.search(raw)
    if not raw or (kernel_lines_only and not ts):
        return
    text = raw[ts.end():] if ts else raw
    found = classify(text)
    if found:
        kind, victim = found
        allowed = bool(kind == "oom-kill" and current and victim in con.tests[current].allow_oom)
        con.events.append(Event(kind, text.strip(), no, current, victim, allowed))


def _marker(con: Console, verb: str, rest: str, no: int, current: str | None) -> str | None:
    words = rest.split()
    if verb == "suite-start":
        try:
            con.suite_start_uptime = float(words[0])
        except (IndexError, ValueError):
            pass
    elif verb == "suite-end":
        con.suite_end = words[0] if words else "?"
        return None
    elif verb == "test-start" and words:
        con.tests[words[0]] = TestRecord(words[0], no)
        return words[0]
    elif verb == "allow-oom" and current:
        con.tests[current].allow_oom.update(words)
    elif verb == "figure" and len(words) >= 3 and words[0] in con.tests:
        con.tests[words[0]].figures[words[1]] = parse_value(" ".join(words[2:]))
    elif verb == "test-detail" and words and words[0] in con.tests:
        con.tests[words[0]].detail = rest[len(words[0]):].strip()
    elif verb == "test-end" and len(words) >= 2 and words[0] in con.tests:
        rec = con.tests[words[0]]
        rec.status, rec.end_line = words[1], no
        if len(words) >= 3:
            try:
                rec.seconds = float(words[2])
            except ValueError:
                pass
        brace = rest.find("{")
        if brace >= 0:
            try:
                rec.figures.update(json.loads(rest[brace:]))
            except ValueError:
                rec.figures["_unparsed"] = rest[brace:]
        return None
    return current


def parse_file(path: Path) -> Console:
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse(f)
