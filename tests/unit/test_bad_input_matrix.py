"""The bad-input matrix: render, apply, tree, send, build, boot, validate, bench.

Each case sets up a small world in tmp_path (mini kernel checkouts, series
copies, a mail repository: only what the case needs), breaks one thing,
runs `patchkit ...` through cli.main and checks

  * the exit code (2 bad input, 3 the machine or a tool),
  * the one E: line (no traceback), matched against the expected text,
  * that nothing changed: world_state() before == after, which covers every
    git repository in tmp_path (HEAD, refs, status --porcelain --ignored,
    stash, git's in-progress markers) and the sha256 of every file under
    tmp_path, caches and output folders included.  Not state: git's object
    store (unreachable objects are garbage git gc drops), index stat data,
    reflogs, ORIG_HEAD, and the cache's render-failed/ (a diff that did not
    apply, kept for the command the error message names).

The interruption cases (SIGINT/SIGTERM at several points of apply, render and
send) are in test_bad_input_signals.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import badkit
import mailrepo
from badkit import git, state
from mini_trees import PROFILES, SERIES
from patchkit import benchrun, cli, manifests, render, sentrecords, transport
from patchkit import pinned as pinned_trees

AUTHOR = "Ada Tester <ada@example.org>"
DATE = "2026-06-20T08:00:00+00:00"


# ------------------------------------------------------------------ the world

class World:
    """Lazily built pieces of a case's tmp_path."""

    def __init__(self, tmp: Path, monkeypatch):
        self.tmp = tmp
        self.monkeypatch = monkeypatch
        self._mini = self._hm = self._mail = None
        self.repos: list[Path] = []

    @property
    def mini(self) -> dict:
        """A user's mini 6.12 checkout, copies of the mini series (mini-zram with
        a cover template and a v2 changelog) and an absolute output folder."""
        if self._mini is None:
            checkout = badkit.mini_checkout(self.tmp / "co" / "zram-6.12")
            series = self.tmp / "series"
            shutil.copytree(SERIES, series)
            (series / "mini-zram" / "cover.j2").write_text("The mini series {{ name }}.\n")
            toml = series / "mini-zram" / "series.toml"
            toml.write_text(toml.read_text() + '\n[changes]\n2 = "- the second take"\n')
            self.repos.append(checkout)
            self._mini = {"checkout": checkout, "series": series, "out": self.tmp / "out",
                          "toml": toml, "vtoml": series / "mini-zram" / "v2" / "version.toml",
                          "patch": series / "mini-zram" / "v2" / "0001-zram-swap-ops"}
        return self._mini

    @property
    def hm(self) -> badkit.Handmade:
        if self._hm is None:
            self._hm = badkit.handmade_series(self.tmp / "hm")
            self.repos.append(self._hm.checkout)
        return self._hm

    @property
    def mail(self) -> dict:
        if self._mail is None:
            root = self.tmp / "mail"
            info = mailrepo.make_repo(root)
            mailrepo.make_series(root, version=2, changes={2: "- second take\n"})
            maildir = root / "maildir"
            maildir.mkdir()
            script = root / "sendmail"
            script.write_text('#!/bin/sh\nif [ -n "$FAIL" ]; then echo "sendmail: no route" >&2; '
                              'exit 75; fi\nn=$(ls "$MAILDIR" | wc -l)\ncat > "$MAILDIR/$n"\n')
            script.chmod(0o755)
            git(info["repo"], "config", "sendemail.sendmailCmd", str(script))
            self.monkeypatch.setenv("MAILDIR", str(maildir))
            info.update(series=str(root / "templates" / "zram-swap-ops"), maildir=maildir,
                        root=root)
            self.repos.append(info["repo"])
            self._mail = info
        return self._mail

    # argv helpers
    def render(self, *extra, series="mini-zram"):
        m = self.mini
        return ["render", str(m["series"] / series), "--tree", str(m["checkout"]),
                "-o", str(m["out"]), "--author", AUTHOR, *extra]

    def apply(self, *extra, tree=None):
        h = self.hm
        return ["apply", h.top, "--tree", str(tree or h.checkout), "--patches",
                str(h.top_patches), *extra]

    def send(self, *extra, version="1"):
        m = self.mail
        return ["send", m["series"], "--version", version, "--repo", str(m["repo"]),
                "--base", m["base"], "--tip", m["tip"], "--prerequisite-base", m["base0"],
                "--no-auto-to-cc", "--date", DATE, *extra]


# render-failed/: the rendered diff that did not apply, kept on purpose for the
# "show the conflict" command the message names.
SKIP_PARTS = {"objects", "logs", "render-failed"}
SKIP_NAMES = {"index", "ORIG_HEAD", "FETCH_HEAD", "COMMIT_EDITMSG", "gitconfig",
              "packed-refs"}     # refs are compared through for-each-ref


def world_state(world: World) -> dict:
    files = {}
    for p in sorted(world.tmp.rglob("*")):
        rel = p.relative_to(world.tmp)
        if SKIP_PARTS & set(rel.parts) or p.name in SKIP_NAMES or not (p.is_file() or
                                                                       p.is_symlink()):
            continue
        files[str(rel)] = badkit._sha(p)
    def skipped(p):
        return bool(SKIP_PARTS & set(p.relative_to(world.tmp).parts))

    # every folder, but not one that only holds skipped things
    dirs = sorted(str(p.relative_to(world.tmp)) for p in world.tmp.rglob("*")
                  if p.is_dir() and not skipped(p)
                  and (not any(p.iterdir()) or any(not skipped(q) for q in p.iterdir())))
    return {"files": files, "dirs": dirs,
            "repos": {str(r): state(r) for r in world.repos if r.exists()}}


# ------------------------------------------------------------------ cases

@dataclass
class Case:
    id: str
    argv: Callable[[World], list[str]]
    code: int
    message: str                       # regex searched in the E: line
    setup: Callable[[World], None] | None = None
    env: dict | None = None


def edit_toml(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


def set_key(w: World, line: str) -> None:
    """Replace (or add) one top-level key of mini-zram's series.toml."""
    toml = w.mini["toml"]
    key = line.split(" =")[0]
    head, _, changes = toml.read_text().partition("\n[changes]")
    lines = [x for x in head.splitlines() if not x.startswith(key + " ")]
    toml.write_text(line + "\n" + "\n".join(lines) + ("\n[changes]" + changes if changes else ""))


def set_vkey(w: World, line: str) -> None:
    """Replace (or add) one key of mini-zram's v2/version.toml."""
    vtoml = w.mini["vtoml"]
    key = line.split(" =")[0]
    lines = [x for x in vtoml.read_text().splitlines() if not x.startswith(key + " ")]
    vtoml.write_text(line + "\n" + "\n".join(lines) + "\n")


def edit_diff(w: World, old: str, new: str) -> None:
    (diff,) = w.mini["patch"].glob("*.diff")
    edit_toml(diff, old, new)


def corrupt_object(repo: Path, rev: str) -> None:
    blob = git(repo, "rev-parse", rev)
    obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not zlib at all")


def mkfile(w: World, name: str, data: bytes = b"precious\n") -> Path:
    p = w.tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def plain_dir(w: World) -> Path:
    d = w.tmp / "plain"
    d.mkdir(exist_ok=True)
    (d / "Makefile").write_text("VERSION = 6\n")
    return d


def empty_repo(w: World) -> Path:
    d = w.tmp / "empty"
    if not d.exists():
        subprocess.run(["git", "init", "-q", str(d)], check=True)
        w.repos.append(d)
    return d


def no_identity(w: World, repo: Path) -> None:
    for key in ("user.name", "user.email"):
        git(repo, "config", "--unset", key, check=False)
    git(repo, "config", "user.useConfigOnly", "true")


def series_file(w: World, name: str, text: str) -> Path:
    folder = w.tmp / "series" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0001-x").mkdir(exist_ok=True)
    (folder / "series.toml").write_text(text)
    return folder


R = "render"
RENDER = [
    Case("render-unknown-series", lambda w: w.render(series="nosuch"), 2,
         r"unknown series '.*nosuch': no .*series\.toml"),
    Case("render-toml-syntax", lambda w: w.render(), 2, r"series\.toml: not valid TOML: .*line",
         lambda w: w.mini["toml"].write_text("name = \n")),
    Case("render-missing-subject", lambda w: w.render(), 2, r"missing key\(s\) subject",
         lambda w: edit_toml(w.mini["toml"], "subject =", "#subject =")),
    Case("render-version-string", lambda w: w.render(), 2, r"version must be a whole number from 1, not 'one'",
         lambda w: set_key(w, 'version = "one"')),
    Case("render-version-zero", lambda w: w.render(), 2, r"version must be a whole number from 1, not 0",
         lambda w: set_key(w, "version = 0")),
    Case("render-version-bool", lambda w: w.render(), 2, r"version must be a whole number from 1, not True",
         lambda w: set_key(w, "version = true")),
    Case("render-version-float", lambda w: w.render(), 2, r"version must be a whole number from 1, not 2\.5",
         lambda w: set_key(w, "version = 2.5")),
    Case("render-prefixes-int", lambda w: w.render(), 2, r"prefixes must be a list of strings",
         lambda w: set_key(w, "prefixes = 5")),
    Case("render-changes-list", lambda w: w.render(), 2, r"changes must be a table",
         lambda w: (set_key(w, "changes = [1, 2]"),
                    w.mini["toml"].write_text(w.mini["toml"].read_text().split("\n[changes]")[0]))),
    Case("render-changes-key", lambda w: w.render(), 2, r"\[changes\] key 'two' must be a version",
         lambda w: edit_toml(w.mini["toml"], "\n2 = ", "\ntwo = ")),
    Case("render-to-string", lambda w: w.render(), 2, r"to must be a list of strings",
         lambda w: set_key(w, 'to = "Andrew <akpm@example.org>"')),
    Case("render-cc-ints", lambda w: w.render(), 2, r"cc must be a list of strings",
         lambda w: set_key(w, "cc = [1, 2]")),
    Case("render-patches-in-series-toml", lambda w: w.render(), 2,
         r"patches belong in v<N>/version\.toml", lambda w: set_key(w, 'patches = ["x"]')),
    Case("render-patches-empty", lambda w: w.render(), 2, r"patches must name at least one",
         lambda w: set_vkey(w, "patches = []")),
    Case("render-patches-string", lambda w: w.render(), 2, r"patches must be a list",
         lambda w: set_vkey(w, 'patches = "0001-zram-swap-ops"')),
    Case("render-patch-folder-missing", lambda w: w.render(), 2,
         r"patch folder '0009-nothing' does not exist",
         lambda w: set_vkey(w, 'patches = ["0009-nothing"]')),
    Case("render-patch-folder-dotdot", lambda w: w.render(), 2,
         r"patch folder '\.\./v1' must be a folder name",
         lambda w: set_vkey(w, 'patches = ["../v1"]')),
    Case("render-version-toml-unknown-key", lambda w: w.render(), 2,
         r"version\.toml: unknown key\(s\) patchez", lambda w: set_vkey(w, 'patchez = []')),
    Case("render-depends-unknown", lambda w: w.render(), 2, r"unknown series 'nosuch'",
         lambda w: set_vkey(w, 'depends = "nosuch v1"')),
    Case("render-depends-cycle", lambda w: w.render(), 2, r"dependency cycle through 'mini-zram'",
         lambda w: set_vkey(w, 'depends = "mini-zram v2"')),
    Case("render-tree-not-supported", lambda w: w.render(), 2,
         r"mini-zram v2 does not support tree linux-source-6\.12",
         lambda w: set_vkey(w, 'trees = ["mm-2026"]')),
    Case("render-diff-not-a-diff", lambda w: w.render(), 2, r"no 'diff --git' header: not a diff",
         lambda w: [d.write_text("hello\n") for d in w.mini["patch"].glob("*.diff")]),
    Case("render-diff-dotdot-path", lambda w: w.render(), 2,
         r"file '\.\./zram_drv\.c' is outside the tree",
         lambda w: edit_diff(w, "b/drivers/block/zram/zram_drv.c", "b/../zram_drv.c")),
    Case("render-diff-does-not-apply", lambda w: w.render(), 2,
         r"mini-zram v2 patch 0001-zram-swap-ops on tree linux-source-6\.12: "
         r"drivers/block/zram/zram_drv\.c hunk 1/\d+ .* does not apply; show the conflict: ",
         lambda w: edit_diff(w, "\t.open = zram_open,", "\t.open = zram_opened,")),
    Case("render-diff-undefined-name", lambda w: w.render(), 2, r"'nosuch' is undefined",
         lambda w: edit_diff(w, "@@ ", "{{ nosuch }}@@ ")),
    Case("render-subject-control", lambda w: w.render(), 2, r"subject has a control character",
         lambda w: set_key(w, 'subject = "a\\u0007b"')),
    Case("render-v-minus-one", lambda w: w.render("-v", "-1"), 2,
         r"^-v/--version -1: a version is a whole number from 1$"),
    Case("render-v-zero", lambda w: w.render("-v", "0"), 2, r"^-v/--version 0: a version"),
    Case("render-v-99-no-such-version", lambda w: w.render("-v", "99"), 2,
         r"unknown version v99 of mini-zram: .* holds v2"),
    Case("render-v2-no-changelog", lambda w: w.render(), 2, r"no changelog for v2",
         lambda w: w.mini["toml"].write_text(w.mini["toml"].read_text().split("\n[changes]")[0])),
    Case("render-o-is-a-file", lambda w: w.render("-o", str(mkfile(w, "out.txt"))), 2,
         r"^-o .*out\.txt is a file, not a folder$"),
    Case("render-author-no-mail", lambda w: w.render("--author", "Ada Tester"), 2,
         r"author 'Ada Tester' is not 'Name <mail@example\.org>'"),
    Case("render-author-control", lambda w: w.render("--author", "Ada\x1b[1m <ada@example.org>"), 2,
         r"has a control character"),
    Case("render-author-bad-mail", lambda w: w.render("--author", "Ada <ada@nodot>"), 2,
         r"cannot parse e-mail address 'ada@nodot'"),
    Case("render-tree-missing", lambda w: [*w.render()[:2], "--tree", str(w.tmp / "nope"),
                                           "--author", AUTHOR], 2, r"nope: no such directory"),
    Case("render-tree-plain-folder", lambda w: [*w.render()[:2], "--tree", str(plain_dir(w)),
                                                "--author", AUTHOR], 2, r"is not a git repository"),
    Case("render-tree-no-commit", lambda w: [*w.render()[:2], "--tree", str(empty_repo(w)),
                                             "--author", AUTHOR], 2, r"has no commit yet"),
    Case("render-no-identity", lambda w: w.render()[:-2], 2,
         r"no author identity: git config user\.name/user\.email are not set",
         lambda w: no_identity(w, w.mini["checkout"])),
    Case("render-cover-undefined", lambda w: w.render(), 2, r"cover\.j2: 'nosuch' is undefined",
         lambda w: (w.mini["series"] / "mini-zram" / "cover.j2").write_text("{{ nosuch }}\n")),
    Case("render-cover-syntax", lambda w: w.render(), 2, r"cover\.j2:1: ",
         lambda w: (w.mini["series"] / "mini-zram" / "cover.j2").write_text("{% if %}\n")),
    Case("render-message-undefined", lambda w: w.render(), 2, r"message\.j2:\d+: 'nosuch' is undefined",
         lambda w: (w.mini["patch"] / "message.j2").write_text("mm/zram: {{ nosuch }}\n\nWhy.\n")),
    Case("render-message-missing", lambda w: w.render(), 2, r"no message\.j2",
         lambda w: (w.mini["patch"] / "message.j2").unlink()),
    Case("render-corrupt-object", lambda w: w.render(), 3,
         r"git cannot read the tree's objects in .*: loose object \S+ .*is corrupt",
         lambda w: corrupt_object(w.mini["checkout"], "HEAD:drivers/block/zram/zram_drv.c")),
    Case("render-dry-run", lambda w: ["--dry-run", *w.render()], 2,
         r"--dry-run is not supported by render"),
]


def ignored_file(w: World, text="my notes\n") -> None:
    (w.hm.checkout / "mm" / "pk_new.c").write_text(text)


def untracked_file(w: World) -> None:
    (w.hm.checkout / ".gitignore").write_text("*.o\n")
    git(w.hm.checkout, "commit", "-qam", "ignore only objects", env=badkit.IDENT_ENV)
    (w.hm.checkout / "mm" / "pk_new.c").write_text("draft\n")


def conflict(w: World) -> None:
    (w.hm.checkout / "drivers" / "block" / "zram" / "zram_drv.c").write_text("/* mine */\n")
    git(w.hm.checkout, "commit", "-qam", "my zram", env=badkit.IDENT_ENV)


def break_patch(w: World) -> None:
    p = next((w.hm.patches / "dep-v1").glob("0002-*.patch"))
    text = p.read_text()
    lines = text.splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.startswith("@@"))
    lines[i + 1] = " no such context line\n"
    p.write_text("".join(lines))


def dotdot_patch(w: World) -> None:
    p = next((w.hm.patches / "dep-v1").glob("0001-*.patch"))
    p.write_text(p.read_text().replace("a/mm/swap.h", "a/../swap.h").replace("b/mm/swap.h",
                                                                            "b/../swap.h"))


A = "apply"
APPLY = [
    Case("apply-tree-missing", lambda w: w.apply(tree=w.tmp / "nope"), 2,
         r"nope is not a git checkout \(no such folder\)"),
    Case("apply-tree-plain", lambda w: w.apply(tree=plain_dir(w)), 2, r"plain is not a git checkout$"),
    Case("apply-tree-no-commit", lambda w: w.apply(tree=empty_repo(w)), 2,
         r"has no commit yet: apply needs the series' base"),
    Case("apply-dirty", lambda w: w.apply(), 2, r"has uncommitted changes in: mm/swap\.h",
         lambda w: (w.hm.checkout / "mm" / "swap.h").write_text("/* local */\n")),
    Case("apply-ignored-file-in-the-way", lambda w: w.apply(), 2,
         r"mm/pk_new\.c exists in the checkout but is not tracked", ignored_file),
    Case("apply-untracked-file-in-the-way", lambda w: w.apply(), 2,
         r"mm/pk_new\.c exists in the checkout but is not tracked", untracked_file),
    Case("apply-am-in-progress", lambda w: w.apply(), 2, r"a git am, rebase or merge is in progress",
         lambda w: (w.hm.checkout / ".git" / "rebase-apply").mkdir()),
    Case("apply-index-lock", lambda w: w.apply(), 2, r"another git command is running \(.*index\.lock",
         lambda w: (w.hm.checkout / ".git" / "index.lock").write_text("")),
    Case("apply-branch-exists", lambda w: w.apply(), 2,
         r"branch patchkit/top-v1 exists and does not hold this series",
         lambda w: git(w.hm.checkout, "branch", "patchkit/top-v1")),
    Case("apply-other-base", lambda w: w.apply(), 2,
         r"the files top touches do not match its base: mm/page_io\.c", 
         lambda w: ((w.hm.checkout / "mm" / "page_io.c").write_text("/* other */\n"),
                    git(w.hm.checkout, "commit", "-qam", "other", env=badkit.IDENT_ENV))),
    Case("apply-no-identity", lambda w: w.apply(), 2, r"git does not know who you are",
         lambda w: no_identity(w, w.hm.checkout), {"EMAIL": None}),
    Case("apply-patches-missing", lambda w: [*w.apply()[:-1], str(w.tmp / "nope")], 2,
         r"dep \(needed by top\) has no rendered patches in"),
    Case("apply-patches-empty", lambda w: w.apply(), 2, r"top-v1: no patch files \(NNNN-\*\.patch\)",
         lambda w: [p.unlink() for p in w.hm.top_patches.glob("*.patch")]),
    Case("apply-dependency-missing", lambda w: w.apply(), 2, r"dep \(needed by top\) has no rendered patches",
         lambda w: shutil.rmtree(w.hm.patches / "dep-v1")),
    Case("apply-conflict", lambda w: w.apply(), 2,
         r"top: 0002-zram-top-two\.patch does not apply to .*: conflicts in "
         r"drivers/block/zram/zram_drv\.c; the checkout is back on master as it was|"
         r"the files top touches do not match its base", conflict),
    Case("apply-broken-patch", lambda w: w.apply(), 2,
         r"dep: 0002-mm-page_io-dep-two\.patch does not apply .* the checkout is back on master",
         break_patch),
    Case("apply-dotdot-path", lambda w: w.apply(), 2, r"'\.\./swap\.h' is outside the tree",
         dotdot_patch),
    Case("apply-unknown-series", lambda w: ["apply", str(w.tmp / "nosuch"), "--tree",
                                            str(w.hm.checkout), "--patches", str(w.hm.top_patches)],
         2, r"unknown series"),
    Case("apply-dry-run", lambda w: ["--dry-run", *w.apply()], 2, r"--dry-run is not supported by apply"),
    Case("apply-author-control", lambda w: ["apply", w.hm.top, "--tree", str(w.hm.checkout),
                                            "--author", "A\x07 <a@example.org>"], 2,
         r"has a control character"),
]


T = "tree"
TREE = [
    Case("tree-show-unknown", lambda w: ["tree", "show", "nosuch"], 2, r"nosuch"),
    Case("tree-verify-unknown", lambda w: ["tree", "verify", "nosuch"], 2, r"nosuch"),
    Case("tree-fetch-unknown", lambda w: ["tree", "fetch", "nosuch"], 2, r"nosuch"),
    Case("tree-verify-missing-checkout", lambda w: ["tree", "verify", "--tree", str(w.tmp / "nope")], 2,
         r"nope"),
    Case("tree-verify-plain-folder", lambda w: ["tree", "verify", "--tree", str(plain_dir(w))], 2,
         r"is not a git repository"),
    Case("tree-show-no-commit", lambda w: ["tree", "show", "--tree", str(empty_repo(w))], 2,
         r"has no commit yet"),
    Case("tree-show-file", lambda w: ["tree", "show", "--tree", str(mkfile(w, "linux.tar"))], 2,
         r"linux\.tar"),
]


def hold_send_lock(w: World) -> None:
    lock = sentrecords.SendLock(w.mail["repo"], "zram-swap-ops", 1)
    lock.__enter__()
    w.held = lock


def sent_once(w: World) -> None:
    assert cli.main(w.send("--send")) == 0


S = "send"
SEND = [
    Case("send-version-zero", lambda w: w.send(version="0"), 2,
         r"^--version 0: a version is a whole number from 1$"),
    Case("send-version-above", lambda w: w.send(version="5"), 2, r"unknown version v5 of zram-swap-ops"),
    Case("send-o-file", lambda w: w.send("-o", str(mkfile(w, "out.mbox"))), 2,
         r"^-o .*out\.mbox is a file, not a folder$"),
    Case("send-to-garbage", lambda w: w.send("--to", "not an address"), 2,
         r"cannot parse e-mail address 'not an address' \(from --to\)"),
    Case("send-to-list-with-garbage", lambda w: w.send("--to", "a@b.org, Doe"), 2,
         r"cannot parse e-mail address 'Doe' \(from --to\)"),
    Case("send-cc-control", lambda w: w.send("--cc", "a@b.org\r\nBcc: x@y.org"), 2,
         r"--cc .* has a control character"),
    Case("send-repo-without-base", lambda w: ["send", w.mail["series"], "--repo", str(w.mail["repo"])],
         2, r"send needs the rendered series: --repo TREE --base REV"),
    Case("send-base-not-a-commit", lambda w: [*w.send()[:6], "--base", "nosuchrev"], 2,
         r"'nosuchrev' is no commit in"),
    Case("send-tip-not-a-commit", lambda w: w.send("--tip", "deadbeef"), 2, r"'deadbeef' is no commit"),
    Case("send-bad-date", lambda w: w.send("--date", "yesterday"), 2,
         r"--date 'yesterday' is not an ISO 8601 date"),
    Case("send-no-transport", lambda w: w.send("--send"), 2, r"no mail transport configured",
         lambda w: git(w.mail["repo"], "config", "--unset", "sendemail.sendmailCmd")),
    Case("send-already-sent", lambda w: w.send("--send"), 2, r"zram-swap-ops v1 was already sent",
         sent_once),
    Case("send-resend-never-sent", lambda w: w.send("--send", "--resend"), 2,
         r"--resend: zram-swap-ops v1 was never sent"),
    Case("send-concurrent", lambda w: w.send("--send"), 2,
         r"another patchkit send of zram-swap-ops v1 is running on .* \(pid \d+\)", hold_send_lock),
    Case("send-bad-encryption", lambda w: w.send("--send"), 2, r"sendemail\.smtpEncryption 'rot13'",
         lambda w: (git(w.mail["repo"], "config", "--unset", "sendemail.sendmailCmd"),
                    git(w.mail["repo"], "config", "sendemail.smtpServer", "127.0.0.1"),
                    git(w.mail["repo"], "config", "sendemail.smtpEncryption", "rot13"))),
    Case("send-bad-port", lambda w: w.send("--send"), 2, r"sendemail\.smtpServerPort 'nope' is no port",
         lambda w: (git(w.mail["repo"], "config", "--unset", "sendemail.sendmailCmd"),
                    git(w.mail["repo"], "config", "sendemail.smtpServer", "127.0.0.1"),
                    git(w.mail["repo"], "config", "sendemail.smtpServerPort", "nope"))),
    Case("send-bad-from", lambda w: w.send("--from", "me"), 2, r"cannot parse e-mail address 'me'"),
    Case("send-compare-to-missing", lambda w: w.send("--compare-to", "nosuch", version="2"), 2,
         r"--compare-to 'nosuch'.*is no commit"),
    Case("send-transport-fails-first", lambda w: w.send("--send"), 3,
         r"delivery through .* failed at \[PATCH 0/2\].*exit 75", None, {"FAIL": "1"}),
    Case("send-author-control", lambda w: w.send("--author", "A\x07 <a@example.org>"), 2,
         r"has a control character"),
    Case("send-unknown-series", lambda w: ["send", str(w.tmp / "nosuch")], 2, r"unknown series"),
]


B = "build"
BUILD = [
    Case("build-fragment-missing", lambda w: ["build", str(w.tmp), "--fragment", str(w.tmp / "no.config")],
         2, r"cannot read config fragment .*no\.config: No such file"),
    Case("build-fragment-binary", lambda w: ["build", str(w.tmp), "--fragment",
                                             str(mkfile(w, "v.config", b"\x7fELF\xff\xfe"))], 2,
         r"is not a text file \(not UTF-8\)"),
    Case("build-fragment-nul", lambda w: ["build", str(w.tmp), "--fragment",
                                          str(mkfile(w, "n.config", b"CONFIG_A=y\0\n"))], 2,
         r"is not a text file \(NUL bytes\)"),
    Case("build-fragment-folder", lambda w: ["build", str(w.tmp), "--fragment", str(w.tmp)], 2,
         r"is a folder, not a file"),
    Case("build-fragment-bad-line", lambda w: ["build", str(w.tmp), "--fragment",
                                               str(mkfile(w, "b.config", b"ZRAM=y\n"))], 2,
         r"b\.config:1"),
    Case("build-source-missing", lambda w: ["build", str(w.tmp / "nope")], 2,
         r"nope: no such kernel source folder"),
    Case("build-unknown-flavour", lambda w: ["build", str(w.mini["checkout"]), "--config", "nosuch"], 2,
         r"nosuch"),
    Case("build-jobs-zero", lambda w: ["build", str(w.mini["checkout"]), "-j", "0"], 2,
         r"^-j 0: give at least 1 job$"),
    Case("build-dry-run", lambda w: ["--dry-run", "build", str(w.tmp)], 2, r"patchkit build has no --dry-run"),
]


BOOT = [
    Case("boot-no-kernel", lambda w: ["boot"], 2, r"patchkit boot needs --kernel BZIMAGE and --source TREE"),
    Case("boot-kernel-missing", lambda w: ["boot", "--kernel", str(w.tmp / "bzImage"), "--source",
                                           str(w.mini["checkout"])], 2, r"kernel image .*bzImage does not exist"),
    Case("boot-kernel-folder", lambda w: ["boot", "--kernel", str(w.tmp), "--source",
                                          str(w.mini["checkout"])], 2, r"kernel image .* does not exist"),
    Case("boot-source-missing", lambda w: ["boot", "--kernel", str(mkfile(w, "bzImage", b"text\n")),
                                           "--source", str(w.tmp / "nope")], 2, r"nope: no such kernel source"),
    Case("boot-memory-zero", lambda w: ["boot", "--kernel", str(w.tmp / "bzImage"), "--source",
                                        str(w.tmp), "--memory", "0"], 2, r"^--memory 0: "),
    Case("boot-smp-zero", lambda w: ["boot", "--kernel", str(w.tmp / "bzImage"), "--source",
                                     str(w.tmp), "--smp", "0"], 2, r"^--smp 0: "),
    Case("boot-timeout-zero", lambda w: ["boot", "--kernel", str(w.tmp / "bzImage"), "--source",
                                         str(w.tmp), "--timeout", "0"], 2, r"^--timeout 0: "),
    Case("boot-unknown-test", lambda w: ["boot", "--kernel", str(w.tmp / "bzImage"), "--source",
                                         str(w.tmp), "--tests", "nosuch"], 2, r"nosuch"),
]


V = "validate"
VALIDATE = [
    Case("validate-unknown-series", lambda w: ["validate", "--series", "nosuch", "-o", str(w.tmp / "r")], 2,
         r"unknown series 'nosuch'"),
    Case("validate-dry-run", lambda w: ["--dry-run", "validate", "--series", "none", "-o", str(w.tmp / "r")],
         2, r"--dry-run is not supported by validate"),
    Case("validate-memory-small", lambda w: ["validate", "--series", "none", "--memory", "8", "-o",
                                             str(w.tmp / "r")], 2, r"--memory 8: the guest needs at least"),
    Case("validate-timeout-zero", lambda w: ["validate", "--series", "none", "--timeout", "0", "-o",
                                             str(w.tmp / "r")], 2, r"--timeout 0: give a number"),
    Case("validate-o-file", lambda w: ["validate", "--series", "none", "-o", str(mkfile(w, "r.json"))], 2,
         r"^-o .*r\.json is a file, not a folder$"),
    Case("validate-fragment-binary", lambda w: ["validate", "--series", "none", "--fragment",
                                                str(mkfile(w, "v.config", b"\xff\xfe")), "-o",
                                                str(w.tmp / "r")], 2, r"not a text file"),
    Case("validate-tests-empty", lambda w: ["validate", "--series", "none", "--tests", ",", "-o",
                                            str(w.tmp / "r")], 2, r"--tests ',' names no test"),
    Case("validate-faults-profile", lambda w: ["validate", "--faults", "--profile", "-o", str(w.tmp / "r")],
         2, r"--profile does not apply to --faults"),
    Case("validate-unknown-test", lambda w: ["validate", "--series", "none", "--tests", "nosuch", "-o",
                                             str(w.tmp / "r")], 2, r"nosuch"),
]


BENCH = [
    Case("bench-rounds-zero", lambda w: ["bench", "--rounds", "0"], 2, r"^--rounds 0: bench needs at least 1 round$"),
    Case("bench-rounds-negative", lambda w: ["bench", "--rounds", "-3"], 2, r"^--rounds -3: "),
    Case("bench-dry-run", lambda w: ["--dry-run", "bench"], 2, r"--dry-run is not supported by bench"),
    Case("bench-report-missing", lambda w: ["bench", "--report", str(w.tmp / "no.json"), "-o",
                                            str(w.tmp / "r")], 2,
         r"cannot read bench results .*no\.json: No such file or directory$"),
    Case("bench-report-not-json", lambda w: ["bench", "--report", str(mkfile(w, "b.json")), "-o",
                                             str(w.tmp / "r")], 2, r"cannot read bench results .*b\.json"),
    Case("bench-report-wrong-json", lambda w: ["bench", "--report", str(mkfile(w, "c.json", b"[1]")),
                                               "-o", str(w.tmp / "r")], 2,
         r"c\.json is not a patchkit bench\.json"),
    Case("bench-o-file", lambda w: ["bench", "-o", str(mkfile(w, "bench.out"))], 2,
         r"^-o .*bench\.out is a file, not a folder$"),
    Case("bench-source-bad-label", lambda w: ["bench", "--source", f"nosuch={w.tmp}"], 2, r"nosuch"),
    Case("bench-unknown-series", lambda w: ["bench", "--series", "nosuch"], 2, r"unknown series 'nosuch'"),
]

CASES = RENDER + APPLY + TREE + SEND + BUILD + BOOT + VALIDATE + BENCH


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)
    monkeypatch.delenv(transport.PASSWORD_ENV, raising=False)
    monkeypatch.delenv("FAIL", raising=False)


@pytest.fixture(autouse=True)
def _no_heavy_work(monkeypatch):
    """A case that gets past its checks must not fetch a tree, build or boot."""
    from patchkit import boot as boot_mod, build as build_mod

    def refuse(*a, **kw):
        raise AssertionError("bad input got past the checks into real work")
    real_manifest = manifests.load_manifest

    def pinned(name, **kw):
        real_manifest(name)         # an unknown name fails here, as it should
        refuse()
    monkeypatch.setattr(pinned_trees, "open_pinned", pinned)
    monkeypatch.setattr(pinned_trees, "fetch_tree", pinned)
    monkeypatch.setattr(build_mod, "_build_or_configure", refuse)
    monkeypatch.setattr(boot_mod, "boot", refuse)
    monkeypatch.setattr(benchrun, "resolve_kernels", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    w = World(tmp_path, monkeypatch)
    argv = case.argv(w)           # builds the pieces the case needs
    if case.setup:
        case.setup(w)
    for key, value in (case.env or {}).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    capsys.readouterr()
    before = world_state(w)
    try:
        code = cli.main(argv)
        after = world_state(w)
    finally:
        if getattr(w, "held", None):
            w.held.__exit__(None, None, None)
    err = capsys.readouterr().err
    assert code == case.code, err
    line = badkit.one_error_line(err)
    if os.environ.get("PK_MATRIX_DUMP"):      # the messages, for a human to read
        with open(os.environ["PK_MATRIX_DUMP"], "a") as f:
            f.write(f"{case.id}\t{code}\t{err.strip()}\n")
    assert re.search(case.message, line), f"{case.message!r} not in {line!r}"
    assert after == before, _diff(before, after)


def _diff(before, after) -> str:
    out = []
    for key in ("files",):
        b, a = before[key], after[key]
        out += [f"{p}: {b.get(p, 'absent')[:12]} -> {a.get(p, 'absent')[:12]}"
                for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
    if before["dirs"] != after["dirs"]:
        out.append(f"dirs: +{sorted(set(after['dirs']) - set(before['dirs']))} "
                   f"-{sorted(set(before['dirs']) - set(after['dirs']))}")
    for r in before["repos"]:
        d = badkit.diff_state(before["repos"][r], after["repos"].get(r, {}))
        if d:
            out.append(f"{r}:\n{d}")
    return "\n".join(out)


def test_the_matrix_is_wide_enough():
    families = {}
    for c in CASES:
        families.setdefault(c.id.split("-")[0], []).append(c)
    assert set(families) == {"render", "apply", "tree", "send", "build", "boot", "validate", "bench"}
    assert len(CASES) >= 60
