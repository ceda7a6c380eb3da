"""Helpers for the bad-input and interruption tests (test_bad_input_*.py).

* state(repo): everything a user could lose in a checkout, for before/after
  comparisons: HEAD (symbolic and commit), every ref, `git status --porcelain
  --ignored`, the sha256 of every file of the work tree (ignored ones too),
  and git's own in-progress markers (rebase-apply, index.lock, ...).
* dir_state(path): sha256 of every file under a folder (caches, -o folders).
* handmade_series(tmp): a mini kernel checkout plus a two-series chain
  (dep: 2 patches, top: 2 patches, one of which creates mm/pk_new.c) made
  with plain git commits and `git format-patch`, independent of the
  template format.
* run_pk(...): `python -m patchkit` as a real subprocess, optionally
  stopped at a controlled point: a `git` stand-in on PATH blocks its Nth
  invocation whose arguments contain a given word (before running it), or
  a git hook blocks; the test waits for the marker file and then sends the
  signal.  Nothing in patchkit knows about it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "kernel-fixtures" / "mini"
REAL_GIT = shutil.which("git")

IDENT_ENV = {"GIT_AUTHOR_NAME": "Tree Owner", "GIT_AUTHOR_EMAIL": "owner@example.org",
             "GIT_COMMITTER_NAME": "Tree Owner", "GIT_COMMITTER_EMAIL": "owner@example.org",
             "GIT_AUTHOR_DATE": "@1700000000 +0000", "GIT_COMMITTER_DATE": "@1700000000 +0000"}


def git(repo, *args, check=True, env=None) -> str:
    full = {**os.environ, **(env or {})}
    res = subprocess.run([REAL_GIT, "-C", str(repo), *args], capture_output=True, text=True,
                         env=full)
    if check and res.returncode:
        raise AssertionError(f"git {' '.join(args)}: {res.stderr}")
    return res.stdout.strip()


def _sha(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dir_state(path: Path) -> dict:
    """relative path -> sha256 of every file under path ({} when absent)."""
    path = Path(path)
    if not path.exists():
        return {}
    if path.is_file():
        return {".": _sha(path)}
    return {str(p.relative_to(path)): _sha(p) for p in sorted(path.rglob("*"))
            if p.is_file() or p.is_symlink()}


GIT_MARKERS = ("rebase-apply", "rebase-merge", "MERGE_HEAD", "CHERRY_PICK_HEAD",
               "index.lock", "HEAD.lock", "ORIG_HEAD")


def state(repo: Path) -> dict:
    """What a user could lose in a checkout (see the module doc)."""
    repo = Path(repo)
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    files = {str(p.relative_to(repo)): _sha(p) for p in sorted(repo.rglob("*"))
             if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(repo).parts}
    return {
        "head": git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False),
        "symref": git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "status": git(repo, "status", "--porcelain=v1", "--ignored", "--untracked-files=all"),
        "stash": git(repo, "stash", "list", check=False),
        "files": files,
        "markers": sorted(m for m in GIT_MARKERS if (git_dir / m).exists()
                          and m != "ORIG_HEAD"),
    }


def diff_state(before: dict, after: dict) -> str:
    """A readable difference for assertion messages ('' when equal)."""
    out = []
    for key in before:
        if before[key] == after[key]:
            continue
        if key == "files":
            b, a = before[key], after[key]
            for p in sorted(set(b) | set(a)):
                if b.get(p) != a.get(p):
                    out.append(f"file {p}: {b.get(p, 'absent')[:12]} -> {a.get(p, 'absent')[:12]}")
        else:
            out.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return "\n".join(out)


# ------------------------------------------------------------------ trees and series

def init_repo(path: Path) -> str:
    subprocess.run([REAL_GIT, "init", "-q", "-b", "master", str(path)], check=True)
    git(path, "config", "user.name", "Tree Owner")
    git(path, "config", "user.email", "owner@example.org")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base", env=IDENT_ENV)
    return git(path, "rev-parse", "HEAD")


def mini_checkout(where: Path, name: str = "zram-6.12") -> Path:
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(MINI / name, path)
    init_repo(path)
    return path


@dataclass
class Handmade:
    checkout: Path        # the user's checkout, at the base
    series_root: Path     # dep/ and top/ series folders
    patches: Path         # <patches>/dep-v1/, <patches>/top-v1/
    base: str

    @property
    def top(self) -> str:
        return str(self.series_root / "top")

    @property
    def top_patches(self) -> Path:
        return self.patches / "top-v1"


SERIES_TOML = """\
name = "{name}"
subject = "test: {name}"
change-id = "20260614-{name}-0123456789ab"
version = 1
"""

VERSION_TOML = """\
patches = [{patches}]
{extra}"""


def write_series(folder: Path, name: str, patches: list[str], extra: str = "") -> Path:
    """A series folder: series.toml, v1/version.toml (extra: more keys such as
    depends) and an empty folder per patch (apply --patches needs no diffs)."""
    vdir = folder / "v1"
    vdir.mkdir(parents=True, exist_ok=True)
    for p in patches:
        (vdir / p).mkdir(exist_ok=True)
    (folder / "series.toml").write_text(SERIES_TOML.format(name=name))
    (vdir / "version.toml").write_text(VERSION_TOML.format(
        patches=", ".join(f'"{p}"' for p in patches), extra=extra))
    return folder


def _commit_edit(repo: Path, rel: str, text: str, subject: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.write_text(path.read_text() + text)
    else:
        path.write_text(text)
    git(repo, "add", "-f", rel)
    git(repo, "commit", "-q", "-m", f"{subject}\n\nWhy: a test.\n\nSigned-off-by: Ada "
                                   "<ada@example.org>", env=IDENT_ENV)


def handmade_series(tmp: Path) -> Handmade:
    """See the module doc.  The checkout's .gitignore ignores mm/pk_new.c."""
    tmp = Path(tmp)
    checkout = tmp / "checkout"
    shutil.copytree(MINI / "zram-6.12", checkout)
    (checkout / ".gitignore").write_text("pk_new.c\n*.o\n")
    base = init_repo(checkout)
    work = tmp / "patchwork"
    subprocess.run([REAL_GIT, "clone", "-q", str(checkout), str(work)], check=True)
    _commit_edit(work, "mm/swap.h", "/* dep 1 */\n", "mm/swap: dep one")
    _commit_edit(work, "mm/page_io.c", "/* dep 2 */\n", "mm/page_io: dep two")
    dep_tip = git(work, "rev-parse", "HEAD")
    _commit_edit(work, "mm/pk_new.c", "// SPDX-License-Identifier: GPL-2.0\n/* new */\n",
                 "mm: add pk_new.c")
    _commit_edit(work, "drivers/block/zram/zram_drv.c", "/* top 2 */\n", "zram: top two")
    patches = tmp / "patches"
    for name, rng in (("dep-v1", f"{base}..{dep_tip}"), ("top-v1", f"{dep_tip}..HEAD")):
        git(work, "format-patch", "-q", "--abbrev=12", "-o", str(patches / name), rng)
    root = tmp / "series"
    write_series(root / "dep", "dep", ["0001-a", "0002-b"])
    write_series(root / "top", "top", ["0001-c", "0002-d"], 'depends = "dep v1"\n')
    shutil.rmtree(work)
    return Handmade(checkout, root, patches, base)


# ------------------------------------------------------------------ subprocesses

GIT_SHIM = """#!/bin/sh
# tests only: blocks the Nth git call whose arguments contain $PK_BLOCK
if [ -n "$PK_BLOCK" ]; then
  case " $* " in
    *" $PK_BLOCK "*)
      n=$(cat "$PK_BLOCK_DIR/count" 2>/dev/null || echo 0)
      n=$((n + 1))
      echo "$n" > "$PK_BLOCK_DIR/count"
      if [ "$n" -eq "${PK_BLOCK_NTH:-1}" ]; then
        : > "$PK_BLOCK_DIR/blocked"
        sleep "${PK_BLOCK_SECONDS:-600}"
        [ -n "$PK_BLOCK_SECONDS" ] || exit 99
      fi;;
  esac
fi
exec REAL_GIT "$@"
"""

HOOK = """#!/bin/sh
# tests only: blocks git am after its Nth applied patch
n=$(cat "$PK_BLOCK_DIR/hookcount" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$PK_BLOCK_DIR/hookcount"
if [ "$n" -eq "${PK_HOOK_NTH:-1}" ]; then
  : > "$PK_BLOCK_DIR/blocked"
  sleep 600
fi
exit 0
"""


def pk_env(tmp: Path, **extra) -> dict:
    """Environment of a patchkit subprocess: private cache, no user git config,
    the blocking git stand-in first on PATH."""
    tmp = Path(tmp)
    bindir = tmp / "shim-bin"
    if not (bindir / "git").exists():
        bindir.mkdir(parents=True, exist_ok=True)
        (bindir / "git").write_text(GIT_SHIM.replace("REAL_GIT", REAL_GIT))
        (bindir / "git").chmod(0o755)
        hooks = tmp / "shim-hooks"
        hooks.mkdir(exist_ok=True)
        (hooks / "post-applypatch").write_text(HOOK)
        (hooks / "post-applypatch").chmod(0o755)
    blockdir = tmp / "shim-state"
    shutil.rmtree(blockdir, ignore_errors=True)
    blockdir.mkdir()
    gitconfig = tmp / "shim-gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PK_")) and k != "PYTEST_CURRENT_TEST"}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
               PATCHKIT_CACHE=str(tmp / "cache"), GIT_CONFIG_GLOBAL=str(gitconfig),
               GIT_CONFIG_NOSYSTEM="1", PK_BLOCK_DIR=str(blockdir),
               PYTHONPATH=str(REPO))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def hook_env(tmp: Path) -> dict:
    """Extra environment that makes git am run the blocking post-applypatch hook."""
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath",
            "GIT_CONFIG_VALUE_0": str(Path(tmp) / "shim-hooks")}


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def run_pk(args: list[str], env: dict, *, cwd=None, stop: int | None = None,
           timeout: float = 120) -> Done:
    """Run python -m patchkit ARGS; with stop (a signal number), wait until the
    git stand-in or hook reports it is blocked, then send stop to patchkit."""
    p = subprocess.Popen([sys.executable, "-m", "patchkit", *args], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stop is not None:
        marker = Path(env["PK_BLOCK_DIR"]) / "blocked"
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if p.poll() is not None:
                out, err = p.communicate()
                raise AssertionError(f"patchkit ended (exit {p.returncode}) before the block "
                                     f"point was reached:\n{err}")
            if time.monotonic() > deadline:
                p.kill()
                raise AssertionError("block point not reached")
            time.sleep(0.02)
        p.send_signal(stop)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"patchkit did not end after the signal:\n{err}")
    return Done(p.returncode, out, err)


SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}


def one_error_line(stderr: str) -> str:
    """The E: line patchkit printed (exactly one), without the prefix."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("E: ")]
    assert len(lines) == 1, f"expected one E: line, got:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return lines[0][3:]
