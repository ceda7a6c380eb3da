"""patchkit.tree on tiny fake tarballs: every rule of pinned trees in seconds."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from patchkit import cli, debsource, git, manifests, options, paths, tree, worktrees
from patchkit import pinned as pinned_trees
from patchkit.errors import InfraError, UserError

FAKE = "fake-source-9.9"
PACKAGE = "patchkit-test-no-such-package"

# Files of the fake kernel tree: path -> (content, mode).  Shaped like the
# real thing where it matters: a Makefile with the version, touched files, a
# .gitignore that would drop a shipped file, an executable script, a symlink
# and a CRLF file (what core.autocrlf would rewrite).
FILES = {
    "Makefile": (b"# SPDX-License-Identifier: GPL-2.0\nVERSION = 9\nPATCHLEVEL = 9\n"
                 b"SUBLEVEL = 1\nEXTRAVERSION =\nNAME = Test\n", 0o644),
    "mm/swap.h": (b"/* swap */\nstruct swap_info;\n", 0o644),
    "mm/page_io.c": (b"int swap_writepage(void) { return 0; }\n", 0o644),
    "drivers/block/zram/zram_drv.c": (b"static int zram_init(void) { return 0; }\n", 0o644),
    "drivers/block/zram/.gitignore": (b"*.o\n", 0o644),
    "drivers/block/zram/shipped.o": (b"not really an object\n", 0o644),
    "scripts/run.sh": (b"#!/bin/sh\necho hi\n", 0o755),
    "Documentation/dos.txt": (b"line one\r\nline two\r\n", 0o644),
}
SYMLINKS = {"scripts/link": "run.sh"}
TOUCHED = ["drivers/block/zram/zram_drv.c", "mm/page_io.c", "mm/swap.h",
           "rust/kernel/block/mq/gen_disk.rs"]


def make_tarball(path: Path, files=FILES, symlinks=SYMLINKS, top="linux-source-9.9") -> Path:
    with tarfile.open(path, "w:xz") as tar:
        dirs = sorted({str(Path(top, p).parent) for p in list(files) + list(symlinks)})
        for d in [top] + dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for p, (content, mode) in files.items():
            info = tarfile.TarInfo(f"{top}/{p}")
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
        for p, target in symlinks.items():
            info = tarfile.TarInfo(f"{top}/{p}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A cache, a manifests folder and a pinned fake tarball."""
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "MANIFESTS", tmp_path / "manifests")
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    m, repo, work = pinned_trees.compute_manifest(FAKE, PACKAGE, tarball, "9.9.1-1", workdir=tmp_path,
                                                  files=TOUCHED)
    shutil.rmtree(work)
    manifests.write_manifest(m, manifests.manifest_path(FAKE))
    return manifests.load_manifest(FAKE)


def trees_dir_entries() -> list[str]:
    return sorted(p.name for p in paths.trees_dir().iterdir())


# ------------------------------------------------------------ independent git hashing

def git_object(kind: str, body: bytes) -> bytes:
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).digest()


def expected_tree_id(files, symlinks) -> bytes:
    """The git tree id of files + symlinks, computed without git."""
    entries: dict[str, tuple] = {}
    for p, (content, mode) in files.items():
        entries[p] = (b"100755" if mode & 0o100 else b"100644", git_object("blob", content))
    for p, target in symlinks.items():
        entries[p] = (b"120000", git_object("blob", target.encode()))

    def build(prefix: str) -> bytes:
        children: dict[str, tuple] = {}
        for p, entry in entries.items():
            if not p.startswith(prefix):
                continue
            head, _, rest = p[len(prefix):].partition("/")
            children[head] = (b"40000", None) if rest else entry
        rows = []
        # git orders trees as if their name ended in "/"
        for name in sorted(children, key=lambda n: n + "/" if children[n][1] is None else n):
            mode, sha = children[name]
            if sha is None:
                sha = build(prefix + name + "/")
            rows.append(mode + b" " + name.encode() + b"\0" + sha)
        return git_object("tree", b"".join(rows))

    return build("")


def expected_commit_id(m: manifests.Manifest) -> str:
    name, email = pinned_trees.BASE_IDENTITY
    ident = f"{name} <{email}> {pinned_trees.BASE_DATE}"
    body = (f"tree {expected_tree_id(FILES, SYMLINKS).hex()}\n"
            f"author {ident}\ncommitter {ident}\n\n{pinned_trees.base_message(m)}\n").encode()
    return git_object("commit", body).hex()


# ------------------------------------------------------------ manifests

def test_manifest_base_commit_is_the_hand_computed_git_commit(env):
    assert env.base_commit == expected_commit_id(env)
    assert env.kernel_version == "9.9.1"


def test_manifest_records_touched_file_hashes_and_absent_files(env):
    assert env.files["mm/swap.h"] == hashlib.sha256(FILES["mm/swap.h"][0]).hexdigest()
    assert env.files["rust/kernel/block/mq/gen_disk.rs"] == manifests.ABSENT


def test_manifest_dump_and_load_round_trip(env):
    text = manifests.dump_manifest(env)
    path = paths.MANIFESTS / "copy.toml"
    path.write_text(text.replace(f'name = "{FAKE}"', 'name = "copy"'))
    again = manifests.load_manifest("copy")
    assert (again.base_commit, again.files, again.tarball_sha256) == \
        (env.base_commit, env.files, env.tarball_sha256)


def test_unknown_tree_name_is_one_error_listing_known_trees(env):
    with pytest.raises(UserError) as exc:
        manifests.load_manifest("linux-source-0.1")
    assert "unknown tree 'linux-source-0.1'" in exc.value.msg
    assert FAKE in exc.value.hint


def test_manifest_missing_key_names_file_and_key(env):
    path = manifests.manifest_path(FAKE)
    path.write_text(path.read_text().replace("base_commit =", "# base_commit ="))
    with pytest.raises(UserError, match=r"fake-source-9\.9\.toml: missing .*'base_commit'"):
        manifests.load_manifest(FAKE)


def test_manifest_bad_toml_names_file(env):
    manifests.manifest_path(FAKE).write_text("name = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        manifests.load_manifest(FAKE)


# ------------------------------------------------------------ fetching

def test_fetch_builds_the_pinned_base_in_the_cache(env):
    report = pinned_trees.fetch_tree(FAKE)
    t = report.tree
    assert report.fetched
    assert t.path == paths.trees_dir() / FAKE
    assert t.base_commit == env.base_commit == expected_commit_id(env)
    head = git.out(t.path, "rev-parse", "HEAD")
    assert head == env.base_commit
    assert git.out(t.path, "symbolic-ref", "HEAD") == f"refs/heads/{pinned_trees.BASE_BRANCH}"
    assert set(report.phases) >= {"package", "sha256", "extract", "git add", "git commit"}
    # nothing but the tree and the lock file is left in the cache
    assert trees_dir_entries() == [f".{FAKE}.lock", FAKE]


def test_fetch_commits_files_the_kernel_gitignore_would_drop(env):
    t = pinned_trees.fetch_tree(FAKE).tree
    listed = git.out(t.path, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    assert "drivers/block/zram/shipped.o" in listed


def test_second_fetch_reuses_the_cache(env):
    pinned_trees.fetch_tree(FAKE)
    again = pinned_trees.fetch_tree(FAKE)
    assert not again.fetched and again.phases == {}


def test_base_commit_ignores_hostile_user_git_config(env, tmp_path, monkeypatch):
    home = tmp_path / "home"
    hooks = home / "tpl" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    (home / ".gitconfig").write_text(
        "[core]\n\tautocrlf = true\n\tfileMode = false\n"
        "[user]\n\tname = Mallory\n\temail = m@evil\n"
        "[commit]\n\tgpgSign = true\n"
        f"[init]\n\tdefaultBranch = trunk\n\ttemplateDir = {home / 'tpl'}\n"
        "[filter \"x\"]\n\tclean = tr a-z A-Z\n")
    (home / ".gitattributes").write_text("* filter=x\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.attributesFile")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(home / ".gitattributes"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere.index"))
    t = pinned_trees.fetch_tree(FAKE).tree
    assert t.base_commit == expected_commit_id(env)
    assert not (tmp_path / "elsewhere.git").exists()


def test_downloaded_tarball_hash_mismatch_is_one_error_and_leaves_nothing(env, tmp_path):
    Path(env.tarball).unlink()
    cached = debsource.package_dir(PACKAGE, "9.9.1-1") / Path(env.tarball).name
    cached.parent.mkdir(parents=True)
    make_tarball(cached, files={**FILES, "mm/swap.h": (b"changed\n", 0o644)})
    with pytest.raises(UserError) as exc:
        pinned_trees.fetch_tree(FAKE)
    assert exc.value.msg.startswith(f"hash mismatch: {cached} ({PACKAGE} 9.9.1-1) has sha256")
    assert env.tarball_sha256 in exc.value.msg
    assert f"patchkit tree fetch {FAKE} --force" in exc.value.hint
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_host_tarball_of_another_version_is_not_used(env, monkeypatch, capsys):
    make_tarball(Path(env.tarball), files={**FILES, "mm/swap.h": (b"changed\n", 0o644)})
    monkeypatch.setattr(debsource, "installed_version", lambda package: "9.9.2-1")
    with pytest.raises(UserError) as exc:
        pinned_trees.fetch_tree(FAKE)
    # this manifest names no suite, so the pinned version cannot be downloaded
    assert "names no suite" in exc.value.msg
    assert f"patchkit tree manifest {FAKE} --suite SUITE --write" in exc.value.hint
    err = capsys.readouterr().err
    assert f"is not the pinned {PACKAGE} 9.9.1-1 (installed: 9.9.2-1)" in err
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_interrupted_fetch_leaves_nothing_half_done(env, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pinned_trees, "commit_base", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pinned_trees.fetch_tree(FAKE)
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_fetch_clears_a_killed_fetchs_leftovers(env):
    stale = paths.trees_dir() / f".{FAKE}.partial-dead"
    (stale / "linux-source-9.9").mkdir(parents=True)
    pinned_trees.fetch_tree(FAKE)
    assert trees_dir_entries() == [f".{FAKE}.lock", FAKE]


def test_commit_id_differing_from_manifest_is_refused(env):
    path = manifests.manifest_path(FAKE)
    path.write_text(path.read_text().replace(env.base_commit, "0" * 40))
    with pytest.raises(InfraError, match="did not reproduce the pinned commit"):
        pinned_trees.fetch_tree(FAKE)
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_full_disk_is_reported_before_extracting(env, monkeypatch):
    monkeypatch.setattr(pinned_trees.shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**12, 10**12 - 1024, 1024))
    with pytest.raises(InfraError, match="not enough disk space"):
        pinned_trees.fetch_tree(FAKE)
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_force_fetch_replaces_a_damaged_tree(env):
    t = pinned_trees.fetch_tree(FAKE).tree
    (t.path / "mm/swap.h").write_text("damaged\n")
    pinned_trees.fetch_tree(FAKE, force=True)
    assert (t.path / "mm/swap.h").read_bytes() == FILES["mm/swap.h"][0]
    assert trees_dir_entries() == [f".{FAKE}.lock", FAKE]


# ------------------------------------------------------------ installing the package

# ------------------------------------------------------------ opening trees

def test_open_tree_fetches_a_pinned_tree_on_demand(env):
    t = tree.open_tree(FAKE)
    assert (t.name, t.version, t.base_commit, t.manifest.name) == \
        (FAKE, "9.9.1", env.base_commit, FAKE)


def test_open_tree_without_fetch_says_how_to_fetch(env):
    with pytest.raises(UserError) as exc:
        tree.open_tree(FAKE, fetch=False)
    assert exc.value.hint == f"patchkit tree fetch {FAKE}"


def test_open_tree_default_is_the_default_tree(env, monkeypatch):
    monkeypatch.setattr(manifests, "DEFAULT_TREE", FAKE)
    assert tree.open_tree(None).name == FAKE


def test_open_tree_unknown_name_and_missing_dir_are_distinct_errors(env, tmp_path):
    with pytest.raises(UserError, match="unknown tree 'nope'"):
        tree.open_tree("nope")
    with pytest.raises(UserError, match="no such directory"):
        tree.open_tree(str(tmp_path / "nope"))


def test_cached_tree_from_another_pin_is_refused(env):
    pinned_trees.fetch_tree(FAKE)
    path = manifests.manifest_path(FAKE)
    path.write_text(path.read_text().replace(env.base_commit, "1" * 40))
    with pytest.raises(UserError) as exc:
        tree.open_tree(FAKE)
    assert "is not the one" in exc.value.msg
    assert exc.value.hint == f"patchkit tree fetch {FAKE} --force"


def make_checkout(root: Path, files=FILES) -> Path:
    for p, (content, mode) in files.items():
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(content)
        (root / p).chmod(mode)
    git = ["git", "-C", str(root), "-c", "user.name=U", "-c", "user.email=u@x"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "mine"], check=True)
    return root


def test_checkout_is_detected_with_version_and_head(env, tmp_path):
    root = make_checkout(tmp_path / "linux")
    t = tree.open_tree(str(root / "mm"))  # any folder inside the checkout
    head = git.out(root, "rev-parse", "HEAD")
    assert (t.path, t.version, t.base_commit, t.name) == (root, "9.9.1", head, FAKE)
    assert tree.touched_file_diffs(t, t.manifest) == []


def test_checkout_reports_exactly_the_touched_files_that_differ(env, tmp_path):
    files = dict(FILES)
    files["mm/swap.h"] = (b"/* my swap */\n", 0o644)
    del files["mm/page_io.c"]
    files["rust/kernel/block/mq/gen_disk.rs"] = (b"// rust\n", 0o644)
    files["drivers/block/zram/shipped.o"] = (b"untouched file changed\n", 0o644)
    root = make_checkout(tmp_path / "linux", files)
    t = tree.open_tree(str(root))
    assert tree.touched_file_diffs(t, t.manifest) == [
        "mm/page_io.c", "mm/swap.h", "rust/kernel/block/mq/gen_disk.rs"]
    described = tree.describe_diffs(t, t.manifest, tree.touched_file_diffs(t, t.manifest))
    assert described[0] == "mm/page_io.c: missing"
    assert described[2] == f"rust/kernel/block/mq/gen_disk.rs: present, {FAKE} does not have it"


def test_directory_that_is_not_a_git_repository_is_one_error(env, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "Makefile").write_bytes(FILES["Makefile"][0])
    with pytest.raises(UserError, match="is not a git repository"):
        tree.open_tree(str(tmp_path / "plain"))


def test_git_repository_that_is_not_a_kernel_is_one_error(env, tmp_path):
    root = make_checkout(tmp_path / "notkernel", {"README": (b"hi\n", 0o644)})
    with pytest.raises(UserError, match="is not a Linux kernel tree"):
        tree.open_tree(str(root))


@pytest.mark.parametrize("makefile, version", [
    ("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n", "6.12.117"),
    ("VERSION = 6\nPATCHLEVEL = 13\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n", "6.13.0-rc3"),
    ("VERSION = 7\nPATCHLEVEL = 0\nSUBLEVEL =\nEXTRAVERSION =\n", "7.0"),
])
def test_kernel_version_is_read_like_the_kernel_makefile(tmp_path, makefile, version):
    (tmp_path / "Makefile").write_text(makefile + "NAME = x\n")
    assert manifests.kernel_version(tmp_path / "Makefile") == version


def test_matching_manifest_prefers_exact_version_then_the_same_line():
    def m(name, version):
        return manifests.Manifest(name, name, "1", version, "/t", "0", "0")
    known = [m("a", "6.1.192"), m("b", "6.12.117")]
    assert manifests.matching_manifest("6.12.117", known).name == "b"
    assert manifests.matching_manifest("6.12.3", known).name == "b"
    assert manifests.matching_manifest("6.1.0-rc1", known).name == "a"
    assert manifests.matching_manifest("6.13.0", known) is None


# ------------------------------------------------------------ verify and CLI

def test_verify_passes_on_a_fresh_tree(env, capsys):
    pinned_trees.fetch_tree(FAKE)
    assert cli.main(["tree", "verify", FAKE]) == 0
    assert "OK (Linux 9.9.1" in capsys.readouterr().err


def test_verify_names_a_changed_work_tree_file(env, capsys):
    t = pinned_trees.fetch_tree(FAKE).tree
    (t.path / "mm/swap.h").write_text("edited\n")
    assert tree.verify(t) == [
        f"work tree mm/swap.h: sha256 {manifests.sha256_file(t.path / 'mm/swap.h')[:16]}…, "
        f"{FAKE} has {env.files['mm/swap.h'][:16]}…"]
    assert cli.main(["tree", "verify", FAKE]) == 1
    assert "mm/swap.h" in capsys.readouterr().err


def test_verify_checks_the_tarball_and_the_base_branch(env):
    t = pinned_trees.fetch_tree(FAKE).tree
    make_tarball(Path(env.tarball), files={**FILES, "mm/swap.h": (b"changed\n", 0o644)})
    git.out(t.path, "update-ref", f"refs/heads/{pinned_trees.BASE_BRANCH}", "HEAD", "HEAD")
    subprocess.run(["git", "-C", str(t.path), "-c", "user.name=U", "-c", "user.email=u@x",
                    "commit", "-q", "--allow-empty", "-m", "moved"], check=True)
    problems = tree.verify(t)
    assert problems[0].startswith(f"{env.tarball}: sha256 ")
    assert problems[1].startswith(f"branch {pinned_trees.BASE_BRANCH} is at ")
    assert len(problems) == 2  # the committed touched files still match


def test_cli_verify_checkout_lists_differing_files(env, tmp_path, capsys):
    files = dict(FILES, **{"mm/swap.h": (b"mine\n", 0o644)})
    root = make_checkout(tmp_path / "linux", files)
    assert cli.main(["tree", "verify", "--tree", str(root)]) == 1
    err = capsys.readouterr().err
    assert "touched file mm/swap.h: sha256" in err


def test_cli_show_reports_fetch_state(env, capsys):
    assert cli.main(["tree", "show", FAKE]) == 0
    out = capsys.readouterr().out
    assert f"base commit:   {env.base_commit}" in out
    assert "(not fetched)" in out


def test_cli_errors_are_exit_code_2_without_traceback(env, tmp_path, capsys):
    assert cli.main(["tree", "show", "linux-source-0.1"]) == 2
    (tmp_path / "plain").mkdir()
    assert cli.main(["tree", "verify", "--tree", str(tmp_path / "plain")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "E: unknown tree 'linux-source-0.1'" in err
    assert "is not a git repository" in err


# ------------------------------------------------------------ argv builders

def test_tar_argv_extracts_without_restoring_owners():
    assert pinned_trees.tar_extract_argv(Path("/t.tar.xz"), Path("/d")) == [
        "tar", "--extract", "--file=/t.tar.xz", "--directory=/d", "--no-same-owner",
        "--delay-directory-restore"]


def test_git_add_argv_forces_ignored_files_and_pins_config():
    argv = pinned_trees.git_add_argv(Path("/r"))
    assert argv[:3] == ["git", "--git-dir=/r/.git", "--work-tree=/r"]
    assert argv[-4:] == ["add", "--force", "--all", "--", "."][-4:]
    pinned = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert {"core.autocrlf=false", "commit.gpgSign=false", "core.hooksPath=/dev/null",
            "core.fileMode=true"} <= set(pinned)


def test_git_env_disables_user_and_system_config():
    env = pinned_trees.git_env(Path("/r"))
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert env["GIT_CONFIG_NOSYSTEM"] == env["GIT_ATTR_NOSYSTEM"] == "1"
    assert env["GIT_INDEX_FILE"] == "/r/.git/index"
    assert env["GIT_AUTHOR_DATE"] == env["GIT_COMMITTER_DATE"] == pinned_trees.BASE_DATE


def test_manifest_file_hash_that_the_tarball_contradicts_is_named(env):
    path = manifests.manifest_path(FAKE)
    path.write_text(path.read_text().replace(env.files["mm/swap.h"], "f" * 64))
    with pytest.raises(UserError) as exc:
        pinned_trees.fetch_tree(FAKE)
    assert exc.value.msg.startswith(f"hash mismatch in {FAKE}: mm/swap.h differ")
    assert trees_dir_entries() == [f".{FAKE}.lock"]


def test_dry_run_fetch_prints_the_commands_and_creates_nothing(env, capsys, monkeypatch):
    with options.using(dry_run=True):
        report = pinned_trees.fetch_tree(FAKE)
    out = capsys.readouterr().out
    assert not report.fetched
    assert "+ tar --extract" in out and " add --force --all -- ." in out
    assert not paths.trees_dir().exists()


def test_fetch_clears_a_killed_force_fetchs_old_tree(env):
    old = paths.trees_dir() / f".{FAKE}.old-dead"
    (old / FAKE).mkdir(parents=True)
    pinned_trees.fetch_tree(FAKE)
    assert trees_dir_entries() == [f".{FAKE}.lock", FAKE]


def test_dry_run_verify_is_refused_rather_than_guessed(env, capsys):
    assert cli.main(["--dry-run", "tree", "verify", FAKE]) == 2
    assert "run it without --dry-run" in capsys.readouterr().err


def test_worktree_is_created_then_moved_without_touching_unchanged_files(tmp_path, monkeypatch):
    import os
    import subprocess
    import time

    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@x")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], check=True, env=env,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (repo / "same.c").write_text("same\n")
    (repo / "moved.c").write_text("one\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    (repo / "moved.c").write_text("two\n")
    git("commit", "-qam", "two")
    second = git("rev-parse", "HEAD")

    dest = worktrees.worktree(repo, first, "t")
    assert dest == tmp_path / "cache" / "worktrees" / "t"
    assert (dest / "moved.c").read_text() == "one\n"
    before = (dest / "same.c").stat().st_mtime_ns
    time.sleep(0.05)
    assert worktrees.worktree(repo, second, "t") == dest
    assert (dest / "moved.c").read_text() == "two\n"
    assert (dest / "same.c").stat().st_mtime_ns == before
    assert (repo / "moved.c").read_text() == "two\n"  # the repo's own work tree untouched


def test_a_work_tree_in_use_is_not_taken_by_another_process(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(worktrees, "_HELD_WORKTREES", {})
    dest = tmp_path / "cache" / "worktrees" / "busy"
    worktrees._hold_worktree(dest)
    worktrees._hold_worktree(dest)  # the owner may ask again (check moves it patch by patch)
    probe = ("import fcntl, sys\n"
             "f = open(sys.argv[1], 'w')\n"
             "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n    sys.exit(7)\n")
    lock = dest.parent / ".busy.lock"
    assert subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode == 7
    worktrees._HELD_WORKTREES.pop(dest).close()
    assert subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode == 0
