"""Who gets each patch: the tree's scripts/get_maintainer.pl, run as b4 runs it.

To: people (maintainers, reviewers) from
    get_maintainer.pl --nogit --nogit-fallback --nogit-chief-penguins --norolestats --nol
Cc: lists (and everything else) from the same flags with --nom.
The --nogit* flags keep it working on a tree without history.
"""

from __future__ import annotations

from pathlib import Path

from patchkit import mail
from patchkit.errors import CommandFailed, UserError

COMMON_FLAGS = ["--nogit", "--nogit-fallback", "--nogit-chief-penguins", "--norolestats"]
TO_FLAGS = [*COMMON_FLAGS, "--nol"]
CC_FLAGS = [*COMMON_FLAGS, "--nom"]


def script(repo) -> Path:
    return Path(repo) / "scripts" / "get_maintainer.pl"


def to_argv(repo) -> list[str]:
    return ["perl", str(script(repo)), *TO_FLAGS]


def cc_argv(repo) -> list[str]:
    return ["perl", str(script(repo)), *CC_FLAGS]


def parse_output(text: str) -> list[str]:
    """One address a line; blank lines and anything that is no address skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or "@" not in line:
            continue
        out.append(line)
    return out


def _run(argv, repo, patch: bytes, what: str) -> list[str]:
    try:
        out = mail.run_bytes(argv, cwd=repo, input=patch, timeout=300).decode("utf-8", "replace")
    except CommandFailed as exc:
        err = exc.stderr
        tail = "\n".join("  | " + line for line in err.strip().splitlines()[-10:])
        raise UserError(
            f"get_maintainer.pl failed (exit {exc.returncode}) on {what}" + (f"\n{tail}" if tail else ""),
            hint=f"reproduce: cd {repo} && git format-patch -1 --stdout <commit> | {' '.join(argv[1:])}",
        ) from None
    return parse_output(out)


def for_patch(repo, patch: bytes, what: str = "a patch") -> mail.Recipients:
    """To and Cc for one patch (its format-patch text)."""
    if not script(repo).is_file():
        raise UserError(f"{script(repo)} does not exist: is {repo} a kernel tree?",
                        hint="pass --no-auto-to-cc to address the series only from the series file")
    to = _run(to_argv(repo), repo, patch, what)
    cc = _run(cc_argv(repo), repo, patch, what)
    people = {mail.addr_key(t) for t in to}
    return mail.Recipients(to=to, cc=[a for a in cc if mail.addr_key(a) not in people])


def for_series(repo, base: str, tip: str) -> list[mail.Recipients]:
    """One Recipients per commit of base..tip."""
    out = []
    for commit in mail.series_commits(repo, base, tip):
        patch = mail.run_bytes(mail.format_patch_argv(repo, commit, "get_maintainer"))
        out.append(for_patch(repo, patch, f"commit {commit[:12]}"))
    return out


def command_argv(command: str, patch_file) -> list[str]:
    """sendemail.toCmd / ccCmd run through the shell with the patch file as
    their argument, as git send-email runs them."""
    return ["sh", "-c", f'{command} "$@"', command, str(patch_file)]


def from_commands(repo, base: str, tip: str, *, tocmd: str | None = None,
                  cccmd: str | None = None) -> list[mail.Recipients]:
    """One Recipients per commit of base..tip from sendemail.toCmd / ccCmd."""
    import tempfile

    out = []
    with tempfile.TemporaryDirectory(prefix="patchkit-cmd-") as tmp:
        for n, commit in enumerate(mail.series_commits(repo, base, tip), 1):
            path = Path(tmp) / f"{n:04d}.patch"
            path.write_bytes(mail.run_bytes(mail.format_patch_argv(repo, commit, "patchkit")))
            r = mail.Recipients()
            for key, command in (("to", tocmd), ("cc", cccmd)):
                if not command:
                    continue
                try:
                    text = mail.run_bytes(command_argv(command, path), cwd=repo, timeout=300)
                except CommandFailed as exc:
                    raise UserError(f"sendemail.{key}Cmd {command!r} failed (exit {exc.returncode}) "
                                    f"on commit {commit[:12]}",
                                    hint=f"reproduce: cd {repo} && {command} {path.name}") from None
                getattr(r, key).extend(parse_output(text.decode("utf-8", "replace")))
            out.append(r)
    return out
