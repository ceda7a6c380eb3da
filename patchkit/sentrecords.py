"""What was sent, recorded in the tree's git.

Per series version the ref refs/patchkit/sent/<series>/v<N>: a commit whose
first parent is the series tip (so the ref holds the sent commits) and
whose message lists the Message-IDs and which of them were delivered.
RecordStore writes it after every delivered message (compare-and-swap on
the ref); SendLock keeps a second `send --send` of the same version out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from patchkit import git, mail
from patchkit.errors import UserError


SENT_REF = "refs/patchkit/sent"


class SendLock:
    """One `send --send` of a series version at a time per repository: a
    second one started while the first runs stops before reading the record
    (which the first is still writing) and before sending anything."""

    def __init__(self, repo, name: str, version: int):
        git_dir = Path(git.out(repo, "rev-parse", "--git-common-dir"))
        if not git_dir.is_absolute():
            git_dir = Path(repo) / git_dir
        self.path = git_dir / f"patchkit-send-{name}-v{version}.lock"
        self.what = f"{name} v{version}"
        self.repo = repo
        self.fd = None

    def __enter__(self):
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise UserError(f"another patchkit send of {self.what} is running on "
                                f"{self.repo} (pid {holder})",
                                hint="wait for it to finish, then check what it sent: "
                                     f"git -C {self.repo} log -1 "
                                     f"{SENT_REF}/{self.what.replace(' ', '/')}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)          # the holder removed it as we opened it: again
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)


@dataclass
class Record:
    series: str
    version: int
    date: str
    base: str
    tip: str
    prerequisite_base: str | None
    prefixes: list[str]
    message_ids: list[str]
    sent: list[str]
    previous: str | None = None        # the record commit of an earlier send of this version

    @property
    def complete(self) -> bool:
        return len(self.sent) == len(self.message_ids)

    def to_json(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "previous"}
        data["complete"] = self.complete
        return json.dumps(data, indent=2)


def record_ref(name: str, version: int) -> str:
    return f"{SENT_REF}/{name}/v{version}"


def load_record_commit(repo, name: str, version: int) -> str | None:
    return git.rev_parse(repo, record_ref(name, version))


def load_record(repo, name: str, version: int) -> Record | None:
    commit = load_record_commit(repo, name, version)
    if commit is None:
        return None
    text = git.out(repo, "log", "-1", "--format=%B", commit)
    _, _, body = text.partition("\n\n")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UserError(f"{record_ref(name, version)} in {repo} is no patchkit sent record",
                        hint=f"git -C {repo} log -1 {record_ref(name, version)}") from exc
    data.pop("complete", None)
    parents = git.out(repo, "log", "-1", "--format=%P", commit).split()
    return Record(**data, previous=parents[1] if len(parents) > 1 else None)


class RecordStore:
    """Writes the record after every delivered message (compare-and-swap on the ref)."""

    def __init__(self, repo, record: Record, sender: str):
        self.repo = repo
        self.record = record
        self.ref = record_ref(record.series, record.version)
        self.current = load_record_commit(repo, record.series, record.version)
        name, addr = mail.parse_address(sender)
        self.env = git.ident_env(name or addr, addr, None)

    def sent(self, msgid: str) -> None:
        self.record.sent.append(msgid)
        r = self.record
        summary = (f"patchkit: sent {r.series} v{r.version} "
                   f"({len(r.sent)}/{len(r.message_ids)} messages)")
        parents = ["-p", r.tip]
        if r.previous:
            parents += ["-p", r.previous]
        commit = git.out(self.repo, "commit-tree", f"{r.tip}^{{tree}}", *parents,
                         "-m", f"{summary}\n\n{r.to_json()}\n", env=self.env)
        git.run(self.repo, "update-ref", "-m", summary, self.ref, commit, self.current or "0" * 40)
        self.current = commit
