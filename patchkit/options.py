"""The run's options: one frozen object, made once by the CLI from its flags.

    patchkit [--dry-run] [-q] COMMAND ...

cli.main() builds Options from the global flags, hands it to the command as
args.options, and makes it the current options for the length of that one
call (options.using); proc reads current().dry_run, ui reads
current().quiet.  Nobody assigns a field: a command that needs other
options for a part of its work (send composes with real git queries under
--dry-run) opens a narrower scope with using(replace(...)), which ends with
the block.  Explicit flags win over environment variables: an environment
variable only fills in what no flag said (qemu: PATCHKIT_ACCEL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Options:
    dry_run: bool = False   # print the commands that would run, run none
    quiet: bool = False     # print only failures


DEFAULT = Options()
_current: ContextVar[Options] = ContextVar("patchkit_options", default=DEFAULT)


def current() -> Options:
    """The options of the call in progress (DEFAULT outside any)."""
    return _current.get()


@contextmanager
def using(options: Options | None = None, **changes) -> Iterator[Options]:
    """options (default: the current ones), with changes, current for the block."""
    chosen = replace(options or current(), **changes)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)
