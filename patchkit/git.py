"""The one module that speaks git: command lines, environment, identity.

Every other module asks this one; none builds a `git ...` argv itself
(tests/unit/test_git_layer.py greps the package for that).  Commands run
through patchkit/proc.py like every other program, so they get its
reproducer lines, logs, dry run and process-group handling.

What used to be three determinism schemes (render, mail, tree) is two,
both here:

  * output: OUTPUT_CONFIG (-c diff.noprefix=false, format.signOff=false,
    ...) on every command whose output becomes a patch file or a mail
    (output_argv: render's format-patch, mail's format-patch, diff, log,
    range-diff), and clean_env() (no global or system config, C locale,
    UTC) where patchkit writes commits and patch files (render, import).
    ident_env(name, mail, date) gives a commit its fixed author,
    committer and date.
  * pinned base: pinned_argv() + pinned_env() build a pinned tree's base
    commit immune to anything around it (GIT_DIR, GIT_INDEX_FILE,
    alternates, config parameters, BASE_CONFIG).

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

# No global or system config, C locale, UTC: for render and import.
CLEAN_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
             "LC_ALL": "C", "TZ": "UTC"}

# Pinned git behaviour for building a pinned tree's base commit (passed as
# `git -c`).  Changing any of these changes every manifest's base_commit.
BASE_CONFIG = (
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.eol=lf",
    "core.fileMode=true",
    "core.symlinks=true",
    "core.ignoreCase=false",
    "core.precomposeUnicode=false",
    "core.hooksPath=/dev/null",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.preloadIndex=true",
    "core.fsync=none",
    "core.fsyncObjectFiles=false",
    "core.looseCompression=1",
    "core.compression=1",
    "gc.auto=0",
    "commit.gpgSign=false",
    "i18n.commitEncoding=UTF-8",
    "init.templateDir=",
    "advice.detachedHead=false",
)

# What shapes mailed git output, pinned even against the repository's own
# config (CLEAN_ENV only switches off the global and system files).
OUTPUT_CONFIG = (
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "format.signOff=false",
    "format.numbered=auto",
    "format.coverLetter=false",
    "format.useAutoBase=false",
    "core.quotePath=true",
)

AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$")


# ------------------------------------------------------------ argv builders

def argv(repo: Path | str | None, *args: str) -> list[str]:
    """`git -C repo args...` (no -C when repo is None)."""
    return [GIT, *(["-C", str(repo)] if repo is not None else []), *map(str, args)]


def config_argv(items) -> list[str]:
    """`-c key=value` options for a git command line, from 'key=value' strings."""
    return [x for item in items for x in ("-c", item)]


def pinned_argv(repo: Path, *args: str) -> list[str]:
    """git on a pinned tree: --git-dir/--work-tree override any inherited
    GIT_DIR / GIT_WORK_TREE, and BASE_CONFIG pins what shapes the commit."""
    return [GIT, f"--git-dir={Path(repo) / '.git'}", f"--work-tree={repo}",
            *config_argv(BASE_CONFIG),
            *map(str, args)]


def init_base_argv(repo: Path, branch: str) -> list[str]:
    return pinned_argv(repo, "init", "--quiet", "--template=", f"--initial-branch={branch}",
                       "--object-format=sha1")


def add_all_argv(repo: Path) -> list[str]:
    # -f: the kernel's own .gitignore files must not drop files of the tarball
    return pinned_argv(repo, "add", "--force", "--all", "--", ".")


def commit_tree_argv(repo: Path, tree_id: str, message: str) -> list[str]:
    # plumbing: no hooks, no editor, no signing, no message clean-up surprises
    return pinned_argv(repo, "commit-tree", "--no-gpg-sign", "-m", message, tree_id)


def worktree_add_argv(repo: Path, dest: Path, commit: str) -> list[str]:
    return argv(repo, "worktree", "add", "--detach", "--force", str(dest), commit)


def checkout_detached_argv(dest: Path, commit: str) -> list[str]:
    return argv(dest, "checkout", "--detach", "--force", "--quiet", commit)


def am_argv(repo: Path, files) -> list[str]:
    """git am -3 of patch files, carriage returns kept as they are."""
    return argv(repo, "am", "-3", "--keep-cr", *map(str, files))


# mail: what git prints into a message must not depend on anyone's config
def output_argv(repo, *args: str) -> list[str]:
    """git -C repo with OUTPUT_CONFIG pinned, for commands whose output is mailed."""
    return [GIT, "-C", str(repo), *config_argv(OUTPUT_CONFIG), *map(str, args)]


def rev_list_argv(repo, base: str, tip: str) -> list[str]:
    return argv(repo, "rev-list", "--reverse", "--no-merges", f"{base}..{tip}")


def mail_patch_argv(repo, commit: str, signature: str) -> list[str]:
    """One commit as a patch on stdout, subject kept as it is."""
    return output_argv(repo, "format-patch", "--stdout", "-1",
                       "--keep-subject", "--no-thread", "--no-attach", "--no-to", "--no-cc",
                       "--no-notes", "--no-signoff", "--find-renames", "--encoding=UTF-8",
                       f"--signature={signature}", commit)


def shortlog_argv(repo, base: str, tip: str) -> list[str]:
    return argv(repo, "shortlog", "--no-merges", f"{base}..{tip}")


def diffstat_argv(repo, base: str, tip: str) -> list[str]:
    return output_argv(repo, "diff", "--stat=72", "--summary", "--find-renames",
                       f"{base}..{tip}")


def patch_log_argv(repo, start: str, end: str) -> list[str]:
    """Commits start..end as diffs for `git patch-id --stable`."""
    return output_argv(repo, "log", "--reverse", "--no-merges", "-p", "--no-renames",
                       "--format=commit %H", f"{start}..{end}")


def patch_id_argv(repo) -> list[str]:
    return argv(repo, "patch-id", "--stable")


def range_diff_argv(repo, old_base: str, old_tip: str, base: str, tip: str) -> list[str]:
    return output_argv(repo, "range-diff", "--no-color", f"{old_base}..{old_tip}",
                       f"{base}..{tip}")


def version_argv() -> list[str]:
    return [GIT, "--version"]


def credential_argv(repo, action: str) -> list[str]:
    """git credential fill|approve|reject."""
    return argv(repo, "credential", action)


def format_patch_argv(repo: Path, start: str, tip: str, out: Path,
                      subject_prefix: str) -> list[str]:
    return output_argv(repo, "format-patch", "--no-cover-letter", "--no-thread",
                       "--no-signoff", "--abbrev=12", f"--subject-prefix={subject_prefix}",
                       "-o", str(out), f"{start}..{tip}")


def apply_cached_argv(repo: Path, diff: Path, *, check: bool = False) -> list[str]:
    """git apply on the index only: context must match, no fuzz, no whitespace fixing."""
    return argv(repo, "apply", "--cached", "--whitespace=nowarn", "--verbose",
                *(["--check"] if check else []), str(diff))


# ------------------------------------------------------------ environments

def clean_env(**extra: str) -> dict[str, str]:
    return dict(CLEAN_ENV, **extra)


def ident_env(name: str, mail: str, date: str | None) -> dict[str, str]:
    """Author and committer: name <mail> at date (git's raw or ISO form;
    None: now)."""
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": mail,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": mail}
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env


def no_prompt_env() -> dict[str, str]:
    """git must not ask on a terminal that is not there."""
    return {"GIT_TERMINAL_PROMPT": "0"}


def no_editor_env() -> dict[str, str]:
    """git am / rebase must not start an editor."""
    return {"GIT_EDITOR": "true"}


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
        "TZ": "UTC",
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


def run_pinned(repo: Path, *args, env: dict, check=True, input=None, log=None) -> proc.Result:
    return proc.run(pinned_argv(repo, *args), env=env, check=check, input=input, log=log)


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
