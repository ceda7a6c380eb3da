"""The one module that speaks git: command lines, environment, identity.

Every other module asks this one; none builds a `git ...` argv itself
(tests/unit/test_git_layer.py greps the package for that).  Commands run
through patchkit/proc.py like every other program, so they get its
reproducer lines, logs, dry run and process-group handling.

Three environments, one per need:

  * clean_env(): what shapes output is pinned (no user or system config:
    diff.noprefix, format.signOff, ... cannot change a patch file; C
    locale, UTC).  Render, import and mail use it.
  * ident_env(name, mail, date): a commit with a fixed author, committer
    and date (added to clean_env() for commit-tree).
  * pinned_env(repo, ...) + pinned_argv(repo, ...): the pinned trees'
    base commit, immune to anything the caller's environment says
    (GIT_DIR, GIT_INDEX_FILE, alternates, config parameters).

GitPython is not used: its config reader ignores GIT_CONFIG_GLOBAL and
GIT_CONFIG_NOSYSTEM (so it would find another identity than `git commit`
does), and it runs git itself, outside proc.py.  `git config` and
`git rev-parse` are one call each here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from patchkit import proc
from patchkit.errors import UserError

GIT = "git"

# Output-shaping configuration switched off, for render, import and mail.
CLEAN_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
             "LC_ALL": "C", "TZ": "UTC"}

AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$")


# ------------------------------------------------------------ argv builders

def argv(repo: Path | str | None, *args: str) -> list[str]:
    """`git -C repo args...` (no -C when repo is None)."""
    return [GIT, *(["-C", str(repo)] if repo is not None else []), *map(str, args)]


def config_argv(config: dict[str, str] | tuple = ()) -> list[str]:
    """`-c key=value` options for a git command line."""
    items = config.items() if isinstance(config, dict) else config
    out = []
    for key, value in items:
        out += ["-c", f"{key}={value}"]
    return out


def pinned_argv(repo: Path, *args: str, config: tuple = ()) -> list[str]:
    """git on a pinned tree: --git-dir/--work-tree override any inherited
    GIT_DIR / GIT_WORK_TREE; config: (key, value) pairs passed as -c."""
    return [GIT, f"--git-dir={Path(repo) / '.git'}", f"--work-tree={repo}",
            *config_argv(config), *map(str, args)]


def format_patch_argv(repo: Path, start: str, tip: str, out: Path, subject_prefix: str,
                      extra: tuple = ()) -> list[str]:
    return argv(repo, "format-patch", "--no-cover-letter", "--no-thread", "--no-signoff",
                "--abbrev=12", f"--subject-prefix={subject_prefix}", *extra,
                "-o", str(out), f"{start}..{tip}")


def apply_cached_argv(repo: Path, diff: Path, *, check: bool = False) -> list[str]:
    """git apply on the index only: context must match, no fuzz, no whitespace fixing."""
    return argv(repo, "apply", "--cached", "--whitespace=nowarn",
                *(["--check", "--verbose"] if check else []), str(diff))


# ------------------------------------------------------------ environments

def clean_env(**extra: str) -> dict[str, str]:
    return dict(CLEAN_ENV, **extra)


def ident_env(name: str, mail: str, date: str) -> dict[str, str]:
    """Author and committer: name <mail> at date (git's raw or ISO form)."""
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": mail, "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": mail,
            "GIT_COMMITTER_DATE": date}


def pinned_env(repo: Path, name: str, mail: str, date: str) -> dict[str, str]:
    """Environment for the pinned trees' base commit: no user or system
    config, no attributes, and this repository's index and objects only."""
    return {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_CONFIG_COUNT": "0",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_INDEX_FILE": str(Path(repo) / ".git" / "index"),
        "GIT_OBJECT_DIRECTORY": str(Path(repo) / ".git" / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
        **ident_env(name, mail, date),
    }


# ------------------------------------------------------------ running

def run(repo, *args, env=None, clean=False, input=None, check=True, log=None,
        hint=None, cwd=None) -> proc.Result:
    """Run git -C repo args... through proc.run (clean: with CLEAN_ENV)."""
    full = dict(CLEAN_ENV) if clean else {}
    full.update(env or {})
    return proc.run(argv(repo, *args), env=full or None, input=input, check=check, log=log,
                    hint=hint, cwd=cwd)


def out(repo, *args, **kw) -> str:
    """stdout of git -C repo args..., without the trailing newline."""
    res = run(repo, *args, **kw)
    data = res.stdout
    return (data.decode() if isinstance(data, bytes) else data).rstrip("\n")


def run_pinned(repo: Path, *args, env: dict, config: tuple = (), check=True, input=None,
               log=None) -> proc.Result:
    return proc.run(pinned_argv(repo, *args, config=config), env=env, check=check,
                    input=input, log=log)


def ok(repo, *args, **kw) -> bool:
    """Whether git -C repo args... exits 0."""
    return run(repo, *args, check=False, **kw).returncode == 0


def rev_parse(repo, rev: str, *, kind: str | None = None) -> str | None:
    """The object id rev names (kind 'commit': peeled to a commit), or None."""
    spec = f"{rev}^{{{kind}}}" if kind else rev
    res = run(repo, "rev-parse", "--verify", "--quiet", spec, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def is_repo(path: Path) -> bool:
    return Path(path).is_dir() and ok(path, "rev-parse", "--git-dir")


def toplevel(path: Path) -> Path | None:
    res = run(path, "rev-parse", "--show-toplevel", check=False)
    return Path(res.stdout.strip()) if res.returncode == 0 else None


def blob(repo, obj: str, *, clean=True) -> bytes:
    """The bytes of blob obj (an id or 'rev:path')."""
    return run(repo, "cat-file", "blob", obj, input=b"", clean=clean).stdout


def config_get(repo, key: str) -> str:
    """git config --get key ('' when unset), as git itself resolves it."""
    return run(repo, "config", "--get", key, check=False).stdout.strip()


# ------------------------------------------------------------ identity

def parse_identity(author: str) -> tuple[str, str]:
    """('Name', 'mail') from 'Name <mail>'."""
    m = AUTHOR_RE.match(author or "")
    if not m:
        raise UserError(f"author {author!r} is not 'Name <mail@example.org>'")
    return m[1], m[2]


def identity(repo: Path | None = None, *, required: bool = True) -> str:
    """'Name <mail>' from git config user.name / user.email ('' if unset and not required)."""
    name = config_get(repo, "user.name")
    mail = config_get(repo, "user.email")
    if not name or not mail:
        if not required:
            return ""
        raise UserError("no author identity: git config user.name/user.email are not set",
                        hint="pass --author 'Your Name <you@example.org>' or run "
                             "git config --global user.name ... and user.email ...")
    return f"{name} <{mail}>"


# ------------------------------------------------------------ a private index

class Index:
    """A private index file on repo: read a tree, apply diffs, write trees,
    commit.  The repository's own index and work tree are never touched."""

    def __init__(self, repo: Path, index_file: Path, start: str):
        self.repo = Path(repo)
        self.env = clean_env(GIT_INDEX_FILE=str(index_file))
        self.index_file = Path(index_file)
        self.git("read-tree", start)

    def git(self, *args, input=None, env=None, check=True) -> str:
        res = run(self.repo, *args, env=dict(self.env, **(env or {})), input=input,
                  check=check)
        data = res.stdout
        return (data.decode() if isinstance(data, bytes) else data).strip()

    def apply(self, diff: Path, *, check: bool = False) -> proc.Result:
        """git apply --cached diff on this index (result returned, not raised)."""
        return proc.run(apply_cached_argv(self.repo, diff, check=check), env=self.env,
                        check=False)

    def apply_reproducer(self, start: str, diff: Path, index_file: Path) -> str:
        """A shell line that shows why diff does not apply on start (on index_file)."""
        env = f"GIT_INDEX_FILE={index_file}"
        return (f"{env} {proc.reproducer(argv(self.repo, 'read-tree', start))} && "
                f"{env} {proc.reproducer(apply_cached_argv(self.repo, diff, check=True))}")

    def write_tree(self) -> str:
        return self.git("write-tree")

    def commit(self, tree: str, parent: str, message: str, name: str, mail: str,
               date: str) -> str:
        return self.git("commit-tree", tree, "-p", parent, "-F", "-", input=message,
                        env=ident_env(name, mail, date))
