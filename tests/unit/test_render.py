"""patchkit render on mini trees: commits, patch files, profiles, errors."""

import shutil
import textwrap
from pathlib import Path

import pytest

from mini_trees import AUTHOR, PROFILES, SERIES, git, isolated_git, make_mini_tree  # noqa: F401 (fixtures)
from patchkit import cli, render
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


def test_edits_land_where_the_anchors_point(make_mini_tree):
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
    msg = root / "mini-base" / "0001-swap-ops" / "message.j2"
    msg.write_text(msg.read_text().replace("table of I/O methods", "table of methods"))
    second = do_render(tree, root=root)
    assert second.tip != first.tip
    assert git(tree.path, "rev-parse", "patchkit/mini-base-v1") == second.tip
    assert git(tree.path, "rev-parse", f"{second.tip}~2") == tree.base_commit


def test_two_profiles_render_one_template_differently(make_mini_tree):
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
    assert result.start == dep.tip
    assert result.dependency_range == f"{tree.base_commit}..{dep.tip}"
    assert git(tree.path, "rev-parse", "patchkit/mini-zram-v2") == result.tip
    assert git(tree.path, "rev-parse", f"{result.tip}~1") == dep.tip
    assert result.patch_files[0].parent == tmp_path / "out" / "mini-zram-v2"
    assert "Subject: [PATCH v2] mm/zram: free slots through swap_ops" in \
        result.patch_files[0].read_text()
    assert len(dep.patch_files) == 2
    assert [p.commit for p in result.all_patches()] == [*(c.sha for c in dep.commits), result.tip]
    assert [p.file for p in result.patches] == result.patch_files
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


def broken_series(tmp_path, edits: str, message: str | None = None):
    root = copy_series(tmp_path, "mini-base")
    folder = root / "mini-base" / "0001-swap-ops"
    (folder / "edits.toml").write_text(textwrap.dedent(edits))
    if message is not None:
        (folder / "message.j2").write_text(message)
    return root, folder


def test_missing_anchor_names_template_file_anchor_and_tree(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h"]

        [[edit]]
        file = "mm/swap.h"
        op = "insert_after"
        anchor = { function = "swap_no_such" }
        code = "x"
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value) == (f"{folder}/edits.toml:3: anchor not found in mm/swap.h on tree "
                              "linux-source-6.12: function 'swap_no_such' matched nothing")


def test_ambiguous_anchor_names_the_matching_lines(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h"]

        [[edit]]
        file = "mm/swap.h"
        op = "insert_after"
        anchor = { function = "x", within = { function = "y" } }
        code = "x"

        [[edit]]
        file = "mm/swap.h"
        op = "replace"
        anchor = { regex = 'swap_read_unplug\\(struct swap_iocb \\*plug\\)' }
        code = "x"
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert "edits.toml:3: anchor not found in mm/swap.h" in str(exc.value)
    assert "scope function 'y' matched 0 times" in str(exc.value)
    (folder / "edits.toml").write_text((folder / "edits.toml").read_text().replace(
        'anchor = { function = "x", within = { function = "y" } }',
        'anchor = { regex = "^struct swap_iocb;" }'))
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{folder}/edits.toml:9: anchor not unique in mm/swap.h "
                                     "on tree linux-source-6.12: regex ")
    assert "matched 3 times (at lines 12, 13, 22)" in str(exc.value)


def test_anchor_values_are_templates_too(make_mini_tree, tmp_path):
    root, _ = broken_series(tmp_path, """\
        files = ["drivers/block/zram/zram_drv.c"]
        [[edit]]
        file = "drivers/block/zram/zram_drv.c"
        op = "insert_after"
        anchor = { function = "{{ slot_free }}" }
        code = "/* after {{ slot_free }} */"
        """)
    for mini, name in (("zram-6.12", "zram_free_page"), ("mm-2026", "slot_free")):
        result = do_render(make_mini_tree(mini), root=root)
        text = git(result.repo, "show", f"{result.commits[0].sha}:drivers/block/zram/zram_drv.c")
        assert f"\tatomic64_dec(&zram->stats.pages_stored);\n}}\n/* after {name} */\n" in text


def test_bad_regex_and_undefined_anchor_name(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h"]
        [[edit]]
        file = "mm/swap.h"
        op = "delete"
        anchor = { regex = '(unclosed' }
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{folder}/edits.toml:2: bad anchor in mm/swap.h on tree "
                                     "linux-source-6.12: bad regex '(unclosed'")
    (folder / "edits.toml").write_text((folder / "edits.toml").read_text().replace(
        "regex = '(unclosed'", 'function = "{{ nope }}"'))
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{folder}/edits.toml:2: 'nope' is undefined")


def test_jinja_syntax_error_reports_file_and_line(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h"]

        [[edit]]
        file = "mm/swap.h"
        op = "insert_after"
        anchor = { regex = '^struct swap_iocb;$' }
        code = '''
        one
        {% if %}
        '''
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{folder}/edits.toml:9: template syntax error:")


def test_code_file_errors_report_the_snippet_file_and_line(make_mini_tree, tmp_path):
    root = copy_series(tmp_path, "mini-base")
    snippet = root / "mini-base" / "0002-page-io" / "submit.c.j2"
    snippet.write_text("\nstatic void f(void)\n{\n\t{{ undefined_helper }}();\n}\n")
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{snippet}:4: 'undefined_helper' is undefined")
    snippet.write_text("ok\n{% for %}\n")
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(f"{snippet}:2: template syntax error:")


def test_undefined_variable_in_message_reports_file_line_and_profile(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, (SERIES / "mini-base/0001-swap-ops/edits.toml")
                                 .read_text(), "subject\n\nbody\nuses {{ no_such_name }}\n")
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert str(exc.value).startswith(
        f"{folder}/message.j2:4: 'no_such_name' is undefined (tree linux-source-6.12)")
    assert "linux-source-6.12.toml" in exc.value.hint


def test_patch_must_touch_exactly_its_declared_files(make_mini_tree, tmp_path):
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h", "mm/page_io.c"]
        [[edit]]
        file = "mm/swap.h"
        op = "insert_after"
        anchor = { regex = '^struct swap_iocb;$' }
        code = "struct swap_ops;"
        """)
    with pytest.raises(UserError) as exc:
        do_render(make_mini_tree("zram-6.12"), root=root)
    assert "declared but unchanged: mm/page_io.c" in str(exc.value)
    assert str(exc.value).startswith(f"{folder}/edits.toml: on tree linux-source-6.12")


def test_failed_render_leaves_branch_and_output_as_they_were(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    good = do_render(tree, out_root=tmp_path / "out")
    before = {p.name: p.read_bytes() for p in good.out_dir.iterdir()}
    root, folder = broken_series(tmp_path, """\
        files = ["mm/swap.h"]
        [[edit]]
        file = "mm/swap.h"
        op = "replace"
        anchor = { regex = '^struct swap_iocb;$' }
        code = "struct swap_iocb;"
        """)
    with pytest.raises(UserError, match="the edits change nothing on tree linux-source-6.12"):
        do_render(tree, root=root, out_root=tmp_path / "out")
    assert git(tree.path, "rev-parse", "patchkit/mini-base-v1") == good.tip
    assert {p.name: p.read_bytes() for p in good.out_dir.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mini-base-v1"]


def test_bad_edits_toml_is_one_clear_error(tmp_path):
    root, folder = broken_series(tmp_path, """\
        [[edit]]
        file = "mm/swap.h"
        op = "move"
        """)
    with pytest.raises(UserError, match=r"edits.toml:1 \(edit 1\): op 'move' is not one of"):
        render.load_patch(folder)
    (folder / "edits.toml").write_text('[[edit]]\nfile = "a"\nop = "replace"\ncode = "x"\n')
    with pytest.raises(UserError, match="replace needs an anchor"):
        render.load_patch(folder)
    (folder / "edits.toml").write_text('files = ["b"]\n[[edit]]\nfile = "a"\nop = "create"\n'
                                       'code = "x"\n')
    with pytest.raises(UserError, match=r"edits touch a, not in files"):
        render.load_patch(folder)


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
    assert render.format_patch_argv(Path("/r"), "a", "b", Path("/o"), s) == [
        "git", "-C", "/r", "format-patch", "--no-cover-letter", "--no-thread", "--no-signoff",
        "--abbrev=12", "--subject-prefix=RFC PATCH mm-new v3", "-o", "/o", "a..b"]


def test_cli_render_unknown_series_exits_2(capsys):
    assert cli.main(["render", "no-such-series-xyz", "--tree", "/nonexistent"]) == 2
    assert "E: unknown series 'no-such-series-xyz'" in capsys.readouterr().err


def test_cli_render_writes_patches_for_the_chain(make_mini_tree, tmp_path, monkeypatch, capsys):
    tree = make_mini_tree("zram-6.12")
    monkeypatch.setattr(render, "open_tree", lambda spec: tree)
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)
    code = cli.main(["render", str(SERIES / "mini-zram"), "--author", AUTHOR,
                     "-o", str(tmp_path / "o")])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["mini-base-v1", "mini-zram-v2"]
    err = capsys.readouterr().err
    assert "I: render: 1 patches in " in err and "mini-zram-v2: 2 files changed" in err


def test_cli_render_bad_author_exits_2(make_mini_tree, monkeypatch, capsys):
    tree = make_mini_tree("zram-6.12")
    monkeypatch.setattr(render, "open_tree", lambda spec: tree)
    assert cli.main(["render", str(SERIES / "mini-base"), "--author", "nobody"]) == 2
    assert "author 'nobody' is not 'Name <mail@example.org>'" in capsys.readouterr().err
