"""The one place patchkit runs other programs.

Every command line is built elsewhere by a pure function (a list of str) and
run here.  run() knows how to:
  * write a per-stage log whose first line is the command to reproduce it;
  * kill the whole process group on timeout or Ctrl-C (no orphaned make/qemu);
  * turn "program not found" into an InfraError that names the Debian package
    (and the command) that installs it;
  * honour a global dry run (print the reproducer, run nothing).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from patchkit import options
from patchkit.errors import CommandFailed, InfraError

# program -> Debian package that provides it
PACKAGES = {
    "git": "git",
    "make": "make",
    "gcc": "gcc",
    "qemu-system-x86_64": "qemu-system-x86",
    "podman": "podman",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "busybox": "busybox-static",
    "stress-ng": "stress-ng",
    "ccache": "ccache",
    "cpio": "cpio",
    "perl": "perl",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "mkfs.ext2": "e2fsprogs",
    "xz": "xz-utils",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "apt-cache": "apt",
}

@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def reproducer(argv, cwd=None, env=None) -> str:
    """A shell line that re-runs argv as patchkit ran it."""
    parts = []
    if cwd:
        parts.append(f"cd {shlex.quote(str(cwd))} &&")
    for key, value in sorted((env or {}).items()):
        parts.append(f"{key}={shlex.quote(str(value))}")
    parts.append(shlex.join(str(a) for a in argv))
    return " ".join(parts)


def require(program: str) -> str:
    """Path of program, or an InfraError naming how to install it."""
    path = shutil.which(program)
    if path:
        return path
    pkg = PACKAGES.get(program, program)
    raise InfraError(
        f"{program} is not installed",
        hint=f"apt-get install {pkg}   (or: make setup)",
    )


def run(
    argv,
    *,
    cwd=None,
    env: dict | None = None,
    timeout: float | None = None,
    log: Path | None = None,
    check: bool = True,
    input: str | bytes | None = None,
    capture: bool = True,
    hint: str | None = None,
    append: bool = False,
) -> Result:
    """Run argv (a list) and return its Result.

    env adds to (does not replace) os.environ.  With log, stdout and stderr
    are written to that file after a first line '# reproduce: <command>'; the
    returned stdout/stderr then hold the log's tail only when check fails.
    append=True adds to an existing log (one log for a multi-step stage).
    """
    argv = [str(a) for a in argv]
    if os.sep not in argv[0]:
        require(argv[0])
    repro = reproducer(argv, cwd, env)
    if options.current().dry_run:
        print(f"+ {repro}")
        return Result(argv, 0, "", "", 0.0)
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    text = not isinstance(input, bytes)
    start = time.monotonic()
    logf = None
    if log is not None:
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        logf = open(log, "a" if append else "w", encoding="utf-8", errors="replace")
        logf.write(f"# reproduce: {repro}\n")
        logf.flush()
        stdout = stderr = logf
    elif capture:
        stdout = stderr = subprocess.PIPE
    else:
        stdout = stderr = None
    proc = None
    try:
        try:
            with _spawning():
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=full_env,
                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    text=text,
                    errors="replace" if text else None,
                    start_new_session=True,
                )
        except FileNotFoundError as exc:
            raise InfraError(f"cannot run {argv[0]}: {exc.strerror}",
                             hint=f"apt-get install {PACKAGES.get(Path(argv[0]).name, Path(argv[0]).name)}") from exc
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        if logf:
            logf.close()
        raise CommandFailed(argv, -9, "", f"timed out after {timeout:.0f}s", log=log, hint=hint)
    except BaseException:
        # A signal that came while Popen started the child is raised once
        # Popen has returned (see _spawning), so the child is known here too.
        if proc is not None:
            kill_group(proc)
            proc.wait()
        if logf:
            logf.close()
        raise
    seconds = time.monotonic() - start
    if logf:
        logf.close()
        out = err = ""
        if proc.returncode != 0 and check:
            err = tail_of(log)
    out = out or ""
    err = err or ""
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, out, err, log=log, hint=hint)
    return Result(argv, proc.returncode, out, err, seconds)


class _SpawnState:
    """Whether run() is inside subprocess.Popen, and a signal that came then."""
    active = False
    pending: int | None = None


_SPAWN = _SpawnState()


@contextlib.contextmanager
def _spawning():
    """Hold back the interrupt of a signal that arrives while Popen starts a
    child: raised inside Popen, it would lose the child (Popen never returns
    it, and the child runs on in a session of its own).  Raised here, on the
    way out, the caller has the Popen object and kills its group.  Signal
    handlers run in the main thread only, so only its spawns are guarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SPAWN.active, _SPAWN.pending = True, None
    try:
        yield
    finally:
        _SPAWN.active = False
        signum, _SPAWN.pending = _SPAWN.pending, None
    if signum is not None:
        raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGINT/SIGTERM/SIGHUP (Ctrl-C, a CI timeout, kill, a closed terminal)
    unwind as KeyboardInterrupt, so run() kills the process group of the
    command it is waiting for (a container, QEMU) and cleanup code runs.
    Python's default for SIGTERM is to die on the spot, orphaning them: they
    run in sessions of their own, so no signal to patchkit reaches them
    otherwise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        if _SPAWN.active:
            _SPAWN.pending = signum
            return
        raise KeyboardInterrupt(f"signal {signum}")

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held():
    """Ctrl-C / SIGTERM / SIGHUP wait until the block is done.  For short
    steps that must not be cut in half: publishing a render (renames and one
    ref transaction), rolling a checkout back, recording a sent message.
    The signal is delivered (as KeyboardInterrupt) when the block ends."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL the process group proc leads."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def tail_of(path: Path, lines: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def spawn(argv, *, log: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start argv in the background (its own process group) and return it.

    For helpers that must outlive one call, such as a podman API service.  The
    caller owns the process: stop it with kill_group() when done.
    """
    argv = [str(a) for a in argv]
    if os.sep not in argv[0]:
        require(argv[0])
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    out = subprocess.DEVNULL
    if log is not None:
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "w", encoding="utf-8", errors="replace")
        out.write(f"# reproduce: {reproducer(argv, None, env)}\n")
        out.flush()
    try:
        return subprocess.Popen(argv, env=full_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log is not None:
            out.close()
