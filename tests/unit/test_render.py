"""patchkit render on mini trees: commits, patch files, profiles, errors."""

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from mini_trees import AUTHOR, PROFILES, SERIES, git
from patchkit import cli, render
from patchkit import tree as trees
from patchkit.errors import UserError


def do_render(tree, name="mini-base", root=SERIES, **kw):
    kw.setdefault("author", AUTHOR)
    kw.setdefault("profiles", PROFILES)
    return render.render(name, tree, root=root, **kw)


def copy_series(tmp_path, *names):
    root = tmp_path / "series"
    for n in names:
        shutil.copytree(SERIES / n, root / n)
    return root


def test_render_commits_each_patch_on_the_series_branch(make_mini_tree):
    tree = make_mini_tree("zram-6.12")
    result = do_render(tree)
    assert [c.subject for c in result.commits] == [
        "mm/swap: add struct swap_ops", "mm/page_io: count bvecs in struct swap_iocb"]
    assert git(tree.path, "rev-parse", "patchkit/mini-base-v1") == result.tip
    assert git(tree.path, "rev-parse", f"{result.tip}~2") == tree.base_commit
    msg = git(tree.path, "log", "-1", "--format=%B", result.commits[0].sha)
    assert msg == ("mm/swap: add struct swap_ops\n\nGive every swap device a table of I/O "
                   f"methods (linux-source-6.12).\n\nSigned-off-by: {AUTHOR}")
    assert git(tree.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%aI",
               result.commits[1].sha) == f"{AUTHOR}|{AUTHOR}|2026-05-01T09:00:01+00:00"
    # the work tree of the repository is never touched
    assert git(tree.path, "status", "--porcelain") == ""
    assert git(tree.path, "symbolic-ref", "HEAD") == "refs/heads/master"


def test_diffs_land_where_their_context_is(make_mini_tree):
    tree = make_mini_tree("zram-6.12")
    result = do_render(tree)
    swap_h = git(tree.path, "show", f"{result.tip}:include/linux/swap.h")
    assert ("\tstruct block_device *bdev;\t/* swap device or bdev of swap file */\n"
            "\tconst struct swap_ops *ops;\t/* I/O methods */\n") in swap_h
    mm_swap_h = git(tree.path, "show", f"{result.tip}:mm/swap.h")
    assert "struct swap_iocb;\n\nstruct swap_ops {\n\tunsigned int flags;\n" in mm_swap_h
    page_io = git(tree.path, "show", f"{result.tip}:mm/page_io.c")
    assert "\tint\t\t\tnr_bvecs;\n" in page_io and "\tint\t\t\tpages;\n" not in page_io
    assert ("\t\tsio_write_complete(&sio->iocb, ret);\n}\n\nstatic void "
            "swap_bdev_submit_write(struct swap_iocb *sio)\n") in page_io


def test_patch_files_and_diffstat(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    result = do_render(tree, out_root=tmp_path / "out")
    assert result.out_dir == tmp_path / "out" / "mini-base-v1"
    assert [p.name for p in result.patch_files] == [
        "0001-mm-swap-add-struct-swap_ops.patch",
        "0002-mm-page_io-count-bvecs-in-struct-swap_iocb.patch"]
    first = result.patch_files[0].read_text()
    assert "Subject: [PATCH 1/2] mm/swap: add struct swap_ops\n" in first
    assert f"Signed-off-by: {AUTHOR}\n---\n" in first
    stat = {(f.path, f.added, f.removed) for f in result.diffstat}
    assert stat == {("include/linux/swap.h", 1, 0), ("mm/swap.h", 6, 0),
                    ("mm/page_io.c", 6, 1)}
    assert result.summary() == "3 files changed, 13 insertions(+), 1 deletions(-)"
    assert result.dependency_range is None


def test_rendering_twice_gives_identical_commits_and_bytes(make_mini_tree, tmp_path):
    one = do_render(make_mini_tree("zram-6.12"), out_root=tmp_path / "a")
    first = {p.name: p.read_bytes() for p in one.patch_files}
    # a fresh tree in another place, and a re-render over the first output
    two = do_render(make_mini_tree("zram-6.12"), out_root=tmp_path / "a")
    assert [c.sha for c in two.commits] == [c.sha for c in one.commits]
    assert {p.name: p.read_bytes() for p in two.patch_files} == first
    assert sorted(p.name for p in (tmp_path / "a" / "mini-base-v1").iterdir()) == sorted(first)


def test_rerender_resets_the_branch(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    first = do_render(tree)
    root = copy_series(tmp_path, "mini-base")
    msg = root / "mini-base" / "v1" / "0001-swap-ops" / "message.j2"
    msg.write_text(msg.read_text().replace("table of I/O methods", "table of methods"))
    second = do_render(tree, root=root)
    assert second.tip != first.tip
    assert git(tree.path, "rev-parse", "patchkit/mini-base-v1") == second.tip
    assert git(tree.path, "rev-parse", f"{second.tip}~2") == tree.base_commit


def test_two_profiles_render_one_diff_differently(make_mini_tree):
    old = do_render(make_mini_tree("zram-6.12"), "mini-zram")
    new = do_render(make_mini_tree("mm-2026"), "mini-zram")
    old_c = git(old.repo, "show", f"{old.tip}:drivers/block/zram/zram_drv.c")
    new_c = git(new.repo, "show", f"{new.tip}:drivers/block/zram/zram_drv.c")
    assert "\tzram_slot_lock(zram, index);\n\tzram_accessed(zram, index);\n" in old_c
    assert "\tslot_lock(zram, index);\n\tmark_slot_accessed(zram, index);\n" in new_c
    assert "swap_slot_free_notify = " not in old_c and "swap_slot_free_notify = " not in new_c
    assert git(old.repo, "log", "-1", "--format=%b", old.tip).startswith(
        "zram frees a slot with zram_free_page() under zram_slot_lock().")
    assert git(new.repo, "log", "-1", "--format=%b", new.tip).startswith(
        "zram frees a slot with slot_free() under slot_lock().")


def test_dependency_is_rendered_first_and_series_starts_on_its_tip(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    result = do_render(tree, "mini-zram", out_root=tmp_path / "out")
    (dep,) = result.dependencies
    assert dep.series.name == "mini-base"
    assert result.base == dep.tip
    assert result.dependency_range == f"{tree.base_commit}..{dep.tip}"
    assert git(tree.path, "rev-parse", "patchkit/mini-zram-v2") == result.tip
    assert git(tree.path, "rev-parse", f"{result.tip}~1") == dep.tip
    assert result.patch_files[0].parent == tmp_path / "out" / "mini-zram-v2"
    assert "Subject: [PATCH v2] mm/zram: free slots through swap_ops" in \
        result.patch_files[0].read_text()
    assert len(dep.patch_files) == 2
    assert [p.sha for p in result.all_patches()] == [*(c.sha for c in dep.commits), result.tip]
    assert [p.patch_file for p in result.commits] == result.patch_files
    # what send.py's Rendered reads
    assert (result.base, result.prerequisite_base) == (dep.tip, tree.base_commit)
    assert (dep.base, dep.prerequisite_base) == (tree.base_commit, None)


def test_render_on_a_user_checkout_leaves_it_alone(make_mini_tree):
    from mini_trees import snapshot
    tree = make_mini_tree("zram-6.12", where="checkout")
    before = snapshot(tree.path)
    result = do_render(tree)
    assert snapshot(tree.path) == before
    assert result.repo != tree.path
    assert git(result.repo, "rev-parse", "patchkit/mini-base-v1") == result.tip


# ---------------------------------------------------------------- versions and trees

def add_version(root, name, version, trees, patches=None, depends=None, src=None):
    """Copy an existing version folder of series name as v<version>."""
    folder = root / name
    src = src or sorted(p for p in folder.glob("v*") if p.is_dir())[0]
    dest = folder / f"v{version}"
    shutil.copytree(src, dest)
    lines = [f"trees = {trees!r}".replace("'", '"')]
    if patches is not None:
        lines.append(f"patches = {patches!r}".replace("'", '"'))
    else:
        lines.append([x for x in (src / "version.toml").read_text().splitlines()
                      if x.startswith("patches")][0])
    if isinstance(depends, str):
        lines.append(f'depends = "{depends}"')
    lines.append("date = 2026-07-01T12:00:00Z")
    if isinstance(depends, dict):
        lines.append("[depends]")
        lines += [f'"{k}" = "{v}"' for k, v in depends.items()]
    (dest / "version.toml").write_text("\n".join(lines) + "\n")
    return dest


def test_a_tree_with_its_own_diff_gets_it_others_get_change_diff(make_mini_tree, tmp_path):
    root = copy_series(tmp_path, "mini-base")
    patch = root / "mini-base" / "v1" / "0002-page-io"
    own = (patch / "change.diff").read_text().replace(
        'pr_debug("submit %d\\n", sio->nr_bvecs);', 'pr_info("submit %d\\n", sio->nr_bvecs);')
    assert own != (patch / "change.diff").read_text()
    (patch / "mm-2026.diff").write_text(own)
    new = do_render(make_mini_tree("mm-2026"), root=root)
    old = do_render(make_mini_tree("zram-6.12"), root=root)
    assert 'pr_info("submit' in git(new.repo, "show", f"{new.tip}:mm/page_io.c")
    assert 'pr_debug("submit' in git(old.repo, "show", f"{old.tip}:mm/page_io.c")


def test_version_is_chosen_per_tree_and_by_request(make_mini_tree, tmp_path):
    root = copy_series(tmp_path, "mini-base")
    v2 = add_version(root, "mini-base", 2, ["mm-2026"])
    msg = v2 / "0001-swap-ops" / "message.j2"
    msg.write_text(msg.read_text().replace("add struct swap_ops", "add struct swap_ops (v2)"))
    # series.toml says v1, which supports both trees
    assert do_render(make_mini_tree("mm-2026"), root=root).series.version == 1
    picked = do_render(make_mini_tree("mm-2026"), root=root, version=2)
    assert picked.commits[0].subject == "mm/swap: add struct swap_ops (v2)"
    assert git(picked.repo, "rev-parse", "patchkit/mini-base-v2") == picked.tip
    assert "Subject: [PATCH v2 1/2] mm/swap: add struct swap_ops (v2)" in \
        picked.patch_files[0].read_text()
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root, version=2)
    assert str(exc.value).startswith(f"mini-base v2 does not support tree linux-source-6.12: "
                                     f"{v2}/version.toml lists mm-2026")
    assert "--version 1" in exc.value.hint
    with pytest.raises(UserError, match=r"unknown version v7 of mini-base: .* holds v1, v2"):
        do_render(make_mini_tree("zram-6.12"), root=root, version=7)
    # when series.toml's version does not support the tree: the newest that does
    spec = root / "mini-base" / "series.toml"
    spec.write_text(spec.read_text().replace("version = 1", "version = 2"))
    assert do_render(make_mini_tree("zram-6.12"), root=root).series.version == 1
    assert do_render(make_mini_tree("mm-2026"), root=root).series.version == 2


def test_dependency_is_declared_per_tree(make_mini_tree, tmp_path):
    root = copy_series(tmp_path, "mini-base", "mini-zram")
    v3 = add_version(root, "mini-zram", 3, ["linux-source-6.12", "mm-2026"],
                     depends={"linux-source-6.12": "mini-base v1", "mm-2026": ""})
    # on mm-2026 the base is "already there": commit it as the tree's base
    base = make_mini_tree("mm-2026")
    dep = do_render(base, root=root)
    git(base.path, "update-ref", "refs/heads/master", dep.tip)
    base.base_commit = dep.tip
    alone = do_render(base, "mini-zram", root=root, version=3)
    assert alone.dependencies == [] and alone.base == dep.tip
    chained = do_render(make_mini_tree("zram-6.12"), "mini-zram", root=root, version=3)
    assert [d.series.label for d in chained.dependencies] == ["mini-base v1"]
    (v3 / "version.toml").write_text((v3 / "version.toml").read_text().replace(
        '"mm-2026" = ""\n', ""))
    with pytest.raises(UserError, match=r"\[depends\] has no entry for tree mm-2026"):
        do_render(make_mini_tree("mm-2026"), "mini-zram", root=root, version=3)


# ---------------------------------------------------------------- errors

def broken_series(tmp_path, diff: str | None = None, message: str | None = None,
                  patch: str = "0001-swap-ops"):
    root = copy_series(tmp_path, "mini-base")
    folder = root / "mini-base" / "v1" / patch
    if diff is not None:
        (folder / "change.diff").write_text(textwrap.dedent(diff))
    if message is not None:
        (folder / "message.j2").write_text(message)
    return root, folder


def test_a_diff_that_does_not_apply_is_one_line_naming_everything(make_mini_tree, tmp_path,
                                                                   capsys, monkeypatch):
    root = copy_series(tmp_path, "mini-base")
    diff = root / "mini-base" / "v1" / "0002-page-io" / "change.diff"
    # the second hunk's context no longer matches the tree
    diff.write_text(diff.read_text().replace(" \t\tsio_write_complete(&sio->iocb, ret);\n",
                                             " \t\tsio_write_done(&sio->iocb, ret);\n"))
    tree = make_mini_tree("zram-6.12")
    with pytest.raises(UserError) as exc:
        do_render(tree, root=root)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("mini-base v1 patch 0002-page-io on tree linux-source-6.12: "
                          "mm/page_io.c hunk 2/2 (@@ -48,6 +48,11 @@, "
                          f"{diff}:13) does not apply; show the conflict: GIT_INDEX_FILE=")
    # the command it names shows the lines git looked for and did not find
    show = msg.split("show the conflict: ", 1)[1]
    res = subprocess.run(show, shell=True, capture_output=True, text=True)
    assert res.returncode != 0
    assert "while searching for:" in res.stderr and "sio_write_done" in res.stderr
    assert "patch failed: mm/page_io.c:48" in res.stderr
    # the CLI: the same line, exit 2
    monkeypatch.setattr(trees, "open_tree", lambda spec: tree)
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)
    assert cli.main(["render", str(root / "mini-base"), "--author", AUTHOR]) == 2
    assert f"E: {msg}" in capsys.readouterr().err


def test_a_hunk_that_moved_applies_and_render_says_so(make_mini_tree, tmp_path, capsys):
    root = copy_series(tmp_path, "mini-base")
    diff = root / "mini-base" / "v1" / "0002-page-io" / "change.diff"
    diff.write_text(diff.read_text().replace("@@ -48,6 +48,11 @@", "@@ -45,6 +45,11 @@"))
    result = do_render(make_mini_tree("zram-6.12"), root=root)
    assert "swap_bdev_submit_write" in git(result.repo, "show", f"{result.tip}:mm/page_io.c")
    assert ("I: render: mini-base v1 patch 0002-page-io on linux-source-6.12: mm/page_io.c "
            f"hunk 2 applied at line 48 (offset 3 lines) ({diff}; context matched exactly, "
            "no fuzz)") in capsys.readouterr().err


def test_a_diff_for_a_missing_file_names_the_file(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        diff --git a/mm/nowhere.c b/mm/nowhere.c
        --- a/mm/nowhere.c
        +++ b/mm/nowhere.c
        @@ -1,3 +1,3 @@
         a
        -b
        +c
         d
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(
        "mini-base v1 patch 0001-swap-ops on tree linux-source-6.12: mm/nowhere.c hunk 1/1 "
        f"(@@ -1,3 +1,3 @@, {folder}/change.diff:4), the file does not exist on the tree; "
        "show the conflict: ")


def test_no_diff_and_not_a_diff_are_clear_errors(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, "just text\n")
    with pytest.raises(UserError, match=r"change.diff: no 'diff --git' header: not a diff "
                                        r"\(mini-base v1 patch 0001-swap-ops"):
        do_render(make_mini_tree("zram-6.12"), root=root)
    (folder / "change.diff").unlink()
    with pytest.raises(UserError, match=r"no linux-source-6.12.diff and no change.diff"):
        do_render(make_mini_tree("zram-6.12"), root=root)


def test_literal_braces_in_a_diff_are_written_escaped(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        diff --git a/mm/swap_table.c b/mm/swap_table.c
        new file mode 100644
        --- /dev/null
        +++ b/mm/swap_table.c
        @@ -0,0 +1,2 @@
        +static int t[1][1] = {{ '{{' }}0}};
        +/* {{ slot_lock }} */
        """)
    result = do_render(make_mini_tree("zram-6.12"), root=root)
    assert git(result.repo, "show", f"{result.commits[0].sha}:mm/swap_table.c") == \
        "static int t[1][1] = {{0}};\n/* zram_slot_lock */"


def test_undefined_name_and_syntax_error_in_a_diff_give_file_and_line(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path)
    diff = folder / "change.diff"
    lines = diff.read_text().splitlines(keepends=True)
    lines[7] = lines[7].replace("I/O methods", "{{ no_such_name }}")
    diff.write_text("".join(lines))
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(
        f"{diff}:8: 'no_such_name' is undefined (tree linux-source-6.12)")
    assert "linux-source-6.12.toml" in exc.value.hint
    diff.write_text("".join(lines).replace("{{ no_such_name }}", "{% if %}"))
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{diff}:8: template syntax error:")


def test_undefined_variable_in_message_reports_file_line_and_profile(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, message="subject\n\nbody\nuses {{ no_such_name }}\n")
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(
        f"{folder}/message.j2:4: 'no_such_name' is undefined (tree linux-source-6.12)")
    assert "linux-source-6.12.toml" in exc.value.hint


def test_failed_render_leaves_branch_and_output_as_they_were(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    good = do_render(tree, out_root=tmp_path / "out")
    before = {p.name: p.read_bytes() for p in good.out_dir.iterdir()}
    # patch 2 reverts patch 1's mm/swap.h change: applies, but changes nothing
    root = copy_series(tmp_path, "mini-base")
    v1 = root / "mini-base" / "v1"
    first = (v1 / "0001-swap-ops" / "change.diff").read_text()
    (v1 / "0001-swap-ops" / "change.diff").write_text(first)
    (v1 / "0002-page-io" / "change.diff").write_text("")
    with pytest.raises(UserError, match="not a diff"):
        do_render(tree, root=root, out_root=tmp_path / "out")
    assert git(tree.path, "rev-parse", "patchkit/mini-base-v1") == good.tip
    assert {p.name: p.read_bytes() for p in good.out_dir.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mini-base-v1"]


def test_a_diff_that_changes_nothing_is_refused(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        diff --git a/mm/swap.h b/mm/swap.h
        --- a/mm/swap.h
        +++ b/mm/swap.h
        @@ -5,3 +5,3 @@
         struct swap_iocb;
        -
        +
         #ifdef CONFIG_SWAP
        """)
    with pytest.raises(UserError, match="the diff changes nothing on tree linux-source-6.12 "
                                        r"\(mini-base v1 patch 0001-swap-ops\)"):
        do_render(make_mini_tree("zram-6.12"), root=root)


def test_bad_version_toml_is_one_clear_error(tmp_path):
    from patchkit import series as series_mod
    root = copy_series(tmp_path, "mini-base")
    vt = root / "mini-base" / "v1" / "version.toml"
    vt.write_text(vt.read_text() + "colour = 1\n")
    with pytest.raises(UserError, match=r"version.toml: unknown key\(s\) colour"):
        series_mod.load("mini-base", root)
    vt.write_text('patches = ["0001-swap-ops"]\n[depends]\nlinux-source-6.12 = "x"\n')
    with pytest.raises(UserError, match="quote tree names"):
        series_mod.load("mini-base", root)
    vt.write_text('patches = ["0009-gone"]\n')
    with pytest.raises(UserError, match="patch folder '0009-gone' does not exist"):
        series_mod.load("mini-base", root)
    spec = root / "mini-base" / "series.toml"
    spec.write_text(spec.read_text() + 'patches = ["0001-swap-ops"]\n')
    with pytest.raises(UserError, match="patches belong in v<N>/version.toml"):
        series_mod.load("mini-base", root)


def test_no_author_anywhere_is_a_clear_error(make_mini_tree):
    tree = make_mini_tree("zram-6.12", where="checkout")
    git(tree.path, "config", "--unset", "user.name")
    with pytest.raises(UserError, match="no author identity") as exc:
        render.render("mini-base", tree, root=SERIES, profiles=PROFILES)
    assert "--author" in exc.value.hint


def test_author_comes_from_git_config(make_mini_tree):
    tree = make_mini_tree("zram-6.12")
    result = render.render("mini-base", tree, root=SERIES, profiles=PROFILES)
    assert git(tree.path, "log", "-1", "--format=%an <%ae>", result.tip) == \
        "Tree Owner <owner@example.org>"


def test_subject_prefix_and_format_patch_argv():
    from patchkit.series import Series
    s = Series("x", "s", "c", 1, Path("."), [], prefixes=["RFC", "mm-new"])
    assert render.subject_prefix(s) == "RFC PATCH mm-new"
    s.version = 3
    assert render.subject_prefix(s) == "RFC PATCH mm-new v3"
    argv = render.format_patch_argv(Path("/r"), "a", "b", Path("/o"), s)
    assert argv[:3] == ["git", "-C", "/r"] and "format.signOff=false" in argv
    assert argv[argv.index("format-patch"):] == [
        "format-patch", "--no-cover-letter", "--no-thread", "--no-signoff",
        "--abbrev=12", "--subject-prefix=RFC PATCH mm-new v3", "-o", "/o", "a..b"]


def test_cli_render_unknown_series_exits_2(capsys):
    assert cli.main(["render", "no-such-series-xyz", "--tree", "/nonexistent"]) == 2
    assert "E: unknown series 'no-such-series-xyz'" in capsys.readouterr().err


def test_cli_render_writes_patches_for_the_chain(make_mini_tree, tmp_path, monkeypatch, capsys):
    tree = make_mini_tree("zram-6.12")
    monkeypatch.setattr(trees, "open_tree", lambda spec: tree)
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)
    code = cli.main(["render", str(SERIES / "mini-zram"), "--author", AUTHOR,
                     "-o", str(tmp_path / "o")])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["mini-base-v1", "mini-zram-v2"]
    err = capsys.readouterr().err
    assert "I: render: 1 patches in " in err and "mini-zram-v2: 2 files changed" in err


def test_cli_render_bad_author_exits_2(make_mini_tree, monkeypatch, capsys):
    tree = make_mini_tree("zram-6.12")
    monkeypatch.setattr(trees, "open_tree", lambda spec: tree)
    assert cli.main(["render", str(SERIES / "mini-base"), "--author", "nobody"]) == 2
    assert "author 'nobody' is not 'Name <mail@example.org>'" in capsys.readouterr().err
