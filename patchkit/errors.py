"""Errors raised anywhere below the CLI; cli.main() turns them into exit codes.

UserError: the input is wrong (bad template, dirty checkout, unknown series).
InfraError: the machine is missing something or a tool failed (no qemu,
podman refuses to start, apt cannot install).  Both carry a message meant for
a human, naming the file / anchor / command involved and, where there is one,
the command that fixes it.
"""


class PatchkitError(Exception):
    exit_code = 1

    def __init__(self, msg: str, *, hint: str | None = None):
        super().__init__(msg)
        self.msg = msg
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.msg}\n  hint: {self.hint}"
        return self.msg


class UserError(PatchkitError):
    exit_code = 2


class InfraError(PatchkitError):
    exit_code = 3


class Interrupted(PatchkitError):
    """Ctrl-C or SIGTERM/SIGHUP, after the command put back what it had
    changed; msg says what was restored (cli prints it, exit 130)."""
    exit_code = 130


def _text(value) -> str:
    """Output of a command run in text or binary mode, as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


class CommandFailed(InfraError):
    """A subprocess exited non-zero; carries everything needed to reproduce it."""

    def __init__(self, argv, returncode, stdout="", stderr="", log=None, hint=None):
        import shlex

        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = _text(stdout)
        self.stderr = _text(stderr)
        self.log = log
        tail = (self.stderr or self.stdout).strip().splitlines()[-15:]
        msg = f"command failed (exit {returncode}): {shlex.join(self.argv)}"
        if log:
            msg += f"\n  log: {log}"
        if tail:
            msg += "\n" + "\n".join("  | " + line for line in tail)
        super().__init__(msg, hint=hint)
