from pathlib import Path

from patchkit.check import checkpatch_argv, parse_checkpatch


def test_checkpatch_argv_is_b4s_per_patch_invocation_plus_strict():
    assert checkpatch_argv(Path("/k"), Path("/o/0001-x.patch")) == [
        "/k/scripts/checkpatch.pl", "-q", "--terse", "--no-summary", "--mailback",
        "--showfile", "--strict", "/o/0001-x.patch"]
    assert "--strict" not in checkpatch_argv(Path("/k"), Path("p"), strict=False)


def test_parse_checkpatch_counts_each_kind():
    out = (
        "mm/page_io.c:10: ERROR: trailing whitespace\n"
        "mm/page_io.c:12: WARNING: line length of 101 exceeds 100 columns\n"
        "mm/page_io.c:14: CHECK: Alignment should match open parenthesis\n"
        "mm/page_io.c:15: CHECK: Blank lines aren't necessary\n"
    )
    assert parse_checkpatch(out) == {"ERROR": 1, "WARNING": 1, "CHECK": 2}
    assert parse_checkpatch("") == {"ERROR": 0, "WARNING": 0, "CHECK": 0}


def test_a_failed_patch_skips_its_own_later_stages_and_the_next_patch_is_still_checked(tmp_path, monkeypatch):
    """check_series through the pipeline: patch 1's build fails, so its boot is
    SKIP; patch 2 is checked, built at its own commit and booted."""
    import json
    from types import SimpleNamespace

    from patchkit import boot, build, check, render, tree, worktrees
    from patchkit.errors import CommandFailed
    from patchkit.pipeline import FAIL, PASS, SKIP

    t = SimpleNamespace(name="t", version="6.12", base_commit="b" * 40, path=tmp_path / "tree")
    commits = [SimpleNamespace(sha=c * 40, patch_file=tmp_path / f"000{i}-p.patch") for i, c in ((1, "1"), (2, "2"))]
    monkeypatch.setattr(tree, "open_tree", lambda spec: t)
    monkeypatch.setattr(render, "render", lambda name, tree, author=None: SimpleNamespace(
        repo=tmp_path / "repo", tip="2" * 40, commits=commits, all_patches=lambda: commits))
    moved = []
    monkeypatch.setattr(worktrees, "worktree", lambda repo, commit, name: moved.append(commit) or tmp_path / name)
    monkeypatch.setattr(check, "checkpatch", lambda tree, patch, log: {"ERROR": 0, "WARNING": 0, "CHECK": 0})

    def fake_build(source, **kw):
        if moved[-1] == "1" * 40:
            raise CommandFailed(["make"], 2, stderr="mm/page_io.c:1: error")
        return SimpleNamespace(kernel=tmp_path / "bzImage", seconds=3.0, warnings=0)

    monkeypatch.setattr(build, "build", fake_build)
    monkeypatch.setattr(boot, "boot", lambda kernel, **kw: SimpleNamespace(
        status=PASS, tests=[SimpleNamespace(name="hog", status=PASS)], accel="tcg", console_log="c"))
    result = check.check_series("s", tree_spec=None, runtime="host", config="minimal", boot=True,
                                with_deps=False, output=tmp_path / "out")
    assert [(s.name, s.status) for s in result.stages] == [
        ("0001-p: checkpatch", PASS), ("0001-p: build", FAIL), ("0001-p: boot", SKIP),
        ("0002-p: checkpatch", PASS), ("0002-p: build", PASS), ("0002-p: boot", PASS)]
    assert result.stages[2].detail == "skipped: build failed"
    assert result.stages[4].detail == "3s, 0 warnings" and result.stages[5].detail == "1 tests, tcg"
    assert moved == ["2" * 40, "1" * 40, "2" * 40]   # the tip first, then each patch's commit
    assert json.loads((tmp_path / "out" / "results.json").read_text())["status"] == FAIL
