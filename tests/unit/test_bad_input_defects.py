"""One test per numbered defect of issue 18 (each failed before its fix).

Every test checks the exit code, the one error line, and that the state
afterwards is the state before (checkout, refs, caches, sent records).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import badkit
import mailrepo
from badkit import dir_state, diff_state, git, one_error_line, state
from mini_trees import PROFILES, SERIES
from patchkit import benchrun, cli, proc, render, transport
from patchkit.errors import CommandFailed

AUTHOR = "Ada Tester <ada@example.org>"


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def hm(tmp_path):
    return badkit.handmade_series(tmp_path)


@pytest.fixture
def mini(tmp_path):
    """A user's mini checkout, copies of the mini series (with a cover
    template on mini-zram) and an absolute output folder."""
    checkout = badkit.mini_checkout(tmp_path / "co" / "zram-6.12")
    series = tmp_path / "series"
    shutil.copytree(SERIES, series)
    (series / "mini-zram" / "cover.j2").write_text("The mini series {{ name }}.\n")
    toml = series / "mini-zram" / "series.toml"
    toml.write_text(toml.read_text() + '\n[changes]\n2 = "- the second take"\n')
    return {"checkout": checkout, "series": series, "out": tmp_path / "out",
            "cache": tmp_path / "cache"}


def render_refs(cache: Path) -> dict:
    """Refs of every repository render uses in the cache, and its non-object files."""
    out = {}
    for repo in sorted((cache / "render-repos").glob("*.git")):
        out[repo.name] = (git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
                          sorted(str(p.relative_to(repo)) for p in repo.rglob("*")
                                 if p.is_file() and "objects" not in p.relative_to(repo).parts))
    return out


def render_cli(mini, *extra, series="mini-zram"):
    return cli.main(["render", str(mini["series"] / series), "--tree", str(mini["checkout"]),
                     "-o", str(mini["out"]), *extra])


def everything(mini) -> tuple:
    return (state(mini["checkout"]), render_refs(mini["cache"]), dir_state(mini["out"]))


@pytest.fixture(autouse=True)
def profiles(monkeypatch):
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)


# ------------------------------------------------------------------ 1

def test_d1_apply_keeps_an_ignored_untracked_file_the_series_would_create(hm, capsys):
    mine = hm.checkout / "mm" / "pk_new.c"
    mine.write_text("my own notes, not in git\n")
    assert "!! mm/pk_new.c" in git(hm.checkout, "status", "--porcelain", "--ignored")
    before = state(hm.checkout)
    code = cli.main(["apply", hm.top, "--tree", str(hm.checkout), "--patches", str(hm.top_patches)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "mm/pk_new.c" in one_error_line(err)
    assert "not tracked" in err and "move it away" in err
    assert state(hm.checkout) == before, diff_state(before, state(hm.checkout))
    assert mine.read_text() == "my own notes, not in git\n"


# ------------------------------------------------------------------ 2

@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_d2_a_signal_inside_git_am_rolls_back_like_a_conflict(hm, tmp_path, sig):
    env = badkit.pk_env(tmp_path, PK_HOOK_NTH=1, **badkit.hook_env(tmp_path))
    before = state(hm.checkout)
    done = badkit.run_pk(["apply", hm.top, "--tree", str(hm.checkout), "--patches",
                          str(hm.top_patches)], env, stop=badkit.SIGNALS[sig])
    assert done.returncode == 130, done.stderr
    line = one_error_line(done.stderr)
    assert line.startswith("interrupted while applying dep")
    assert f"the checkout is back on master at {hm.base[:12]} as it was" in line
    assert state(hm.checkout) == before, diff_state(before, state(hm.checkout))
    # and nothing is left that makes the next run refuse
    again = badkit.run_pk(["apply", hm.top, "--tree", str(hm.checkout), "--patches",
                           str(hm.top_patches)], badkit.pk_env(tmp_path))
    assert again.returncode == 0, again.stderr


# ------------------------------------------------------------------ 3

def test_d3_a_failing_binary_mode_command_is_a_message_not_a_typeerror():
    with pytest.raises(CommandFailed) as exc:
        proc.run(["sh", "-c", "echo 'fatal: loose object is corrupt' >&2; exit 128"], input=b"")
    assert "fatal: loose object is corrupt" in str(exc.value)
    assert exc.value.exit_code == 3


def test_d3_render_on_a_tree_with_a_corrupt_object_exits_3(mini, capsys):
    blob = git(mini["checkout"], "rev-parse", "HEAD:drivers/block/zram/zram_drv.c")
    obj = mini["checkout"] / ".git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not zlib at all")
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR)
    err = capsys.readouterr().err
    assert code == 3, err
    assert "git" in one_error_line(err) and "Traceback" not in err
    assert everything(mini) == before


# ------------------------------------------------------------------ 4

@pytest.mark.parametrize("line,word", [('version = "one"', "version"),
                                        ("prefixes = 5", "prefixes"),
                                        ("changes = [1, 2]", "changes"),
                                        ('to = "Andrew <akpm@example.org>"', "to")])
def test_d4_wrong_types_in_series_toml_are_one_line_exit_2(mini, capsys, line, word):
    toml = mini["series"] / "mini-zram" / "series.toml"
    key = line.split(" =")[0]
    head, _, changes = toml.read_text().partition("\n[changes]")
    head = "\n".join(x for x in head.splitlines() if not x.startswith(key + " "))
    toml.write_text(f"{line}\n{head}\n" + ("" if key == "changes" else f"[changes]{changes}"))
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR)
    err = capsys.readouterr().err
    assert code == 2, err
    msg = one_error_line(err)
    assert msg.startswith(f"{toml}: {word} ") and "must be" in msg
    assert everything(mini) == before


def test_d4_render_o_naming_a_file(mini, capsys):
    mini["out"].write_text("precious\n")
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR)
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == f"-o {mini['out']} is a file, not a folder"
    assert everything(mini) == before


def test_d4_send_o_naming_a_file(tmp_path, capsys):
    info = mailrepo.make_repo(tmp_path)
    mailrepo.make_series(tmp_path)
    target = tmp_path / "out.txt"
    target.write_text("precious\n")
    before = state(info["repo"])
    code = cli.main(["send", str(tmp_path / "templates" / "zram-swap-ops"), "--repo",
                     str(info["repo"]), "--base", info["base"], "--tip", info["tip"],
                     "--no-auto-to-cc", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == f"-o {target} is a file, not a folder"
    assert target.read_text() == "precious\n" and state(info["repo"]) == before


def test_d4_build_fragment_naming_a_binary_file(tmp_path, capsys):
    frag = tmp_path / "vmlinux.config"
    frag.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00")
    code = cli.main(["build", str(tmp_path), "--fragment", str(frag)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == (f"config fragment {frag.resolve()} is not a text file "
                                   "(not UTF-8)")


# ------------------------------------------------------------------ 5

@pytest.mark.parametrize("case", ["undefined-name", "version-99", "to-string"])
def test_d5_render_is_all_or_nothing(mini, capsys, case):
    # a first good render: its branches and files must survive the failed one
    assert render_cli(mini, "--author", AUTHOR) == 0
    extra = []
    if case == "undefined-name":
        (mini["series"] / "mini-zram" / "cover.j2").write_text("{{ nosuch }}\n")
    elif case == "version-99":
        extra = ["-v", "99"]
    else:
        toml = mini["series"] / "mini-zram" / "series.toml"
        toml.write_text('to = "Andrew <akpm@example.org>"\n' + toml.read_text())
    before = everything(mini)
    capsys.readouterr()
    code = render_cli(mini, "--author", AUTHOR, *extra)
    err = capsys.readouterr().err
    assert code == 2, err
    one_error_line(err)
    assert "render: PASS" not in err
    after = everything(mini)
    assert after == before
    assert not any(".mini-" in p for p in dir_state(mini["out"]))


def test_d5_an_author_with_a_comma_is_taken_by_every_step(mini, capsys):
    before = everything(mini)
    code = render_cli(mini, "--author", "Doe, John <jd@example.org>")
    err = capsys.readouterr().err
    if code != 0:
        assert code == 2 and everything(mini) == before, err
        pytest.fail(f"refused: {err}")
    cover = (mini["out"] / "mini-zram-v2" / "0000-cover-letter.patch").read_text()
    assert 'From: "Doe, John" <jd@example.org>' in cover
    patch = next((mini["out"] / "mini-zram-v2").glob("0001-*.patch")).read_text()
    assert "Signed-off-by: Doe, John <jd@example.org>" in patch


# ------------------------------------------------------------------ 6, 7, 9 (send)

@pytest.fixture
def mailtree(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.delenv(transport.PASSWORD_ENV, raising=False)
    info = mailrepo.make_repo(tmp_path)
    mailrepo.make_series(tmp_path)
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    script = tmp_path / "sendmail"
    script.write_text(SLOW_SENDMAIL)
    script.chmod(0o755)
    git(info["repo"], "config", "sendemail.sendmailCmd", str(script))
    info.update(root=tmp_path, maildir=maildir, series=str(tmp_path / "templates" / "zram-swap-ops"))
    return info


# files each message; with $HOLD set, waits for $HOLD/release before the first one
SLOW_SENDMAIL = """#!/bin/sh
if [ -n "$HOLD" ]; then
  : > "$HOLD/blocked"
  while [ ! -e "$HOLD/release" ]; do sleep 0.05; done
fi
n=$(ls "$MAILDIR" | wc -l)
{ echo "ARGS: $*"; cat; } > "$MAILDIR/$(printf %03d "$n")-$$"
"""


def send_argv(t, *extra):
    return ["send", t["series"], "--repo", str(t["repo"]), "--base", t["base"], "--tip", t["tip"],
            "--no-auto-to-cc", "--date", "2026-06-20T08:00:00+00:00", *extra]


def test_d6_send_to_with_two_addresses_in_one_value_keeps_both(mailtree, capsys):
    assert cli.main(send_argv(mailtree, "--to", "a@b.org, c@d.org", "--cc", "e@f.org,g@h.org")) == 0
    out = capsys.readouterr().out
    cover = out.split("From mboxrd@z")[1].split("\n\n")[0].replace("\n ", " ")
    to = next(line for line in cover.splitlines() if line.startswith("To: "))
    cc = next(line for line in cover.splitlines() if line.startswith("Cc: "))
    assert "a@b.org" in to and "c@d.org" in to
    assert "e@f.org" in cc and "g@h.org" in cc


def test_d7_two_sends_of_one_version_at_once_deliver_once(mailtree, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    env = badkit.pk_env(tmp_path, MAILDIR=mailtree["maildir"], HOLD=hold)
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    first = subprocess.Popen([sys.executable, "-m", "patchkit", *send_argv(mailtree, "--send")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (hold / "blocked").exists():
        assert first.poll() is None, first.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = badkit.run_pk(send_argv(mailtree, "--send"), {**env, "HOLD": ""})
    (hold / "release").touch()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert one_error_line(second.stderr).startswith(
        "another patchkit send of zram-swap-ops v1 is running on")
    covers = [f for f in mailtree["maildir"].iterdir() if "[PATCH 0/2]" in f.read_text()]
    assert len(covers) == 1
    assert len(list(mailtree["maildir"].iterdir())) == 3


def test_d9_send_without_identity_names_an_option_send_accepts(mini, tmp_path, monkeypatch,
                                                               capsys):
    pinned = badkit.mini_checkout(tmp_path / "cache" / "trees" / "zram-6.12")
    git(pinned, "config", "--unset", "user.name")
    git(pinned, "config", "--unset", "user.email")
    from patchkit import tree as trees
    monkeypatch.setattr(trees, "open_tree", lambda spec: trees.open_checkout(pinned))
    argv = ["send", str(mini["series"] / "mini-zram"), "--no-auto-to-cc",
            "--date", "2026-06-20T08:00:00+00:00", "--to", "x@example.org"]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    one_error_line(err)
    assert "patchkit send" in err and "--author" in err
    assert cli.main([*argv, "--author", AUTHOR]) == 0
    assert "Signed-off-by: Ada Tester <ada@example.org>" in capsys.readouterr().out


# ------------------------------------------------------------------ 8

def test_d8_dry_run_validate_writes_nothing_and_fails_nothing(tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main(["--dry-run", "validate", "--series", "none", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err).startswith("--dry-run is not supported by validate")
    assert "FAIL" not in err
    assert not out.exists()


# ------------------------------------------------------------------ 10

def test_d10_apply_on_a_read_only_checkout_is_bad_input(hm, tmp_path):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -m (a private mount namespace) for a read-only mount")
    before = state(hm.checkout)
    env = badkit.pk_env(tmp_path)
    co = str(hm.checkout)
    script = (f"mount --bind {co} {co} && mount -o remount,bind,ro {co} && "
              f"exec {sys.executable} -m patchkit apply {hm.top} --tree {co} --patches {hm.top_patches}")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert one_error_line(res.stderr) == f"{co} is read-only: apply must write its .git and files"
    assert state(hm.checkout) == before


def test_d10_apply_on_a_repository_without_commits(hm, tmp_path, capsys):
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    code = cli.main(["apply", hm.top, "--tree", str(empty), "--patches", str(hm.top_patches)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == f"{empty} has no commit yet: apply needs the series' base checked out"


def test_d10_a_diff_path_leaving_the_tree(mini, capsys):
    (diff,) = (mini["series"] / "mini-base" / "v1" / "0001-swap-ops").glob("*.diff")
    text = diff.read_text()
    assert " b/mm/swap.h" in text
    diff.write_text(text.replace("a/mm/swap.h", "a/../swap.h").replace("b/mm/swap.h", "b/../swap.h"))
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "../swap.h" in one_error_line(err) and "outside the tree" in err
    assert everything(mini) == before


# ------------------------------------------------------------------ 11

@pytest.mark.parametrize("argv,msg", [
    (["-v", "-1"], "-v/--version -1: a version is a whole number from 1"),
    (["-v", "0"], "-v/--version 0: a version is a whole number from 1"),
])
def test_d11_render_version_below_one(mini, capsys, argv, msg):
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR, *argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == msg
    assert everything(mini) == before


def test_d11_series_toml_version_zero(mini, capsys):
    toml = mini["series"] / "mini-zram" / "series.toml"
    toml.write_text(toml.read_text().replace("version = 2", "version = 0"))
    before = everything(mini)
    code = render_cli(mini, "--author", AUTHOR)
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == f"{toml}: version must be a whole number from 1, not 0"
    assert everything(mini) == before


def test_d11_send_version_zero(mailtree, capsys):
    code = cli.main(send_argv(mailtree, "--version", "0"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == "--version 0: a version is a whole number from 1"


def test_d11_control_characters_in_the_author(mini, capsys):
    before = everything(mini)
    code = render_cli(mini, "--author", "Ada\x1b[31m Tester <ada@example.org>")
    err = capsys.readouterr().err
    assert code == 2, err
    assert "control character" in one_error_line(err)
    assert everything(mini) == before


def test_d11_bench_rounds_zero_is_refused_before_any_work(monkeypatch, capsys):
    def no_work(*a, **kw):
        raise AssertionError("bench started rendering/building with --rounds 0")
    monkeypatch.setattr(benchrun, "resolve_kernels", no_work)
    code = cli.main(["bench", "--rounds", "0", "-o", "/nonexistent/never"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err) == "--rounds 0: bench needs at least 1 round"


def test_d11_validate_unknown_series_exits_2(tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main(["validate", "--series", "nosuch", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert one_error_line(err).startswith("unknown series 'nosuch'")
    assert not out.exists()


# ------------------------------------------------------------------ found on the way

def test_render_o_relative_folder_gets_the_files(mini, tmp_path, monkeypatch, capsys):
    """git format-patch ran with -C <repo>: a relative -o put the patches
    inside the cache's repository, and render crashed (ValueError)."""
    monkeypatch.chdir(tmp_path)
    code = cli.main(["render", str(mini["series"] / "mini-zram"), "--tree", str(mini["checkout"]),
                     "-o", "rel-out", "--author", AUTHOR])
    assert code == 0, capsys.readouterr().err
    assert len(list((tmp_path / "rel-out" / "mini-zram-v2").glob("0*.patch"))) == 2
    assert not list((tmp_path / "cache").rglob("*.patch"))
