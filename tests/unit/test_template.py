"""patchkit template import: a commit becomes a patch folder that renders back to it."""

import tomllib

import pytest

from mini_trees import AUTHOR, PROFILES, git, isolated_git, make_mini_tree  # noqa: F401 (fixtures)
from patchkit import cli, render, template
from patchkit.errors import UserError

ZRAM = "drivers/block/zram/zram_drv.c"


def commit_change(repo):
    """A commit with every hunk shape: change, pure addition, deletion, new file."""
    path = repo / ZRAM
    text = path.read_text()
    text = text.replace("\tzram_free_page(zram, index);\n\tzram_slot_unlock(zram, index);\n",
                        "\tzram_free_page(zram, index);\n\tzram_accessed(zram, index);\n"
                        "\tzram_slot_unlock(zram, index);\n")
    text = text.replace("\tup_read(&zram->init_lock);\n\n\treturn",
                        "\tup_read(&zram->init_lock); /* {{done}} */\n\n\treturn")
    text = text.replace("static int zram_major;\n\n", "static int zram_major;\n")
    text = text.replace("module_exit(zram_exit);\n",
                        "module_exit(zram_exit);\nMODULE_DESCRIPTION(\"mini\");\n")
    path.write_text(text)
    h = repo / "include" / "linux" / "swap.h"
    h.write_text(h.read_text().replace("\tunsigned int pages;\t\t/* total of usable pages of swap */\n", ""))
    (repo / "mm" / "swap_ops.c").write_text("// SPDX-License-Identifier: GPL-2.0\n"
                                            "/* {% not jinja %} */\nint swap_ops_ready;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "mm/zram: a change to import\n\nWhy: tests.\n\n"
        "Signed-off-by: Tree Owner <owner@example.org>")
    return git(repo, "rev-parse", "HEAD")


def test_import_then_render_on_the_parent_reproduces_the_commit(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    series_dir = tmp_path / "series" / "imported"
    folder = template.import_commit(tree.path, sha, series_dir, "0001-change",
                                    profile="linux-source-6.12", profiles=PROFILES)
    assert (folder / "message.j2").read_text() == "mm/zram: a change to import\n\nWhy: tests.\n"
    result = render.render(str(series_dir), tree, author=AUTHOR, profiles=PROFILES)
    assert result.start == tree.base_commit
    assert git(tree.path, "rev-parse", f"{result.tip}^{{tree}}") == \
        git(tree.path, "rev-parse", f"{sha}^{{tree}}")
    ops = [e["op"] for e in tomllib.loads((folder / "edits.toml").read_text())["edit"]]
    # a changed line, an added line, a removed line, a removed blank line
    # (anchored with its neighbour), a new file
    assert ops == ["replace", "replace", "insert_after", "insert_after", "delete", "create"]


def test_imported_template_uses_profile_names_and_renders_on_the_other_tree(make_mini_tree,
                                                                            tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    series_dir = tmp_path / "series" / "imported"
    folder = template.import_commit(tree.path, sha, series_dir, "0001-change",
                                    profile="linux-source-6.12", profiles=PROFILES)
    edits = (folder / "edits.toml").read_text()
    assert "{{ mark_slot_accessed }}(zram, index);" in edits
    assert "zram_accessed" not in edits
    # literal Jinja in kernel text is escaped, not evaluated
    assert "{{ '{{' }}done}}" in edits
    new = make_mini_tree("mm-2026")
    result = render.render(str(series_dir), new, author=AUTHOR, profiles=PROFILES)
    text = git(new.path, "show", f"{result.tip}:{ZRAM}")
    assert "\tslot_free(zram, index);\n\tmark_slot_accessed(zram, index);\n" \
           "\tslot_unlock(zram, index);\n" in text
    assert "\tup_read(&zram->dev_lock); /* {{done}} */\n" in text
    assert git(new.path, "show", f"{result.tip}:mm/swap_ops.c").endswith(
        "/* {% not jinja %} */\nint swap_ops_ready;")


def test_series_toml_is_created_then_extended(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    first = commit_change(tree.path)
    (tree.path / "mm" / "swap.h").write_text(
        (tree.path / "mm" / "swap.h").read_text().replace("struct swap_iocb;\n",
                                                          "struct swap_iocb;\nstruct swap_ops;\n"))
    git(tree.path, "commit", "-qam", "mm/swap: declare struct swap_ops")
    series_dir = tmp_path / "s"
    template.import_commit(tree.path, first, series_dir, "0001-a")
    template.import_commit(tree.path, "HEAD", series_dir, "0002-b")
    spec = tomllib.loads((series_dir / "series.toml").read_text())
    assert spec["patches"] == ["0001-a", "0002-b"]
    assert spec["subject"] == "mm/zram: a change to import"
    result = render.render(str(series_dir), tree, author=AUTHOR, profiles=PROFILES)
    assert git(tree.path, "rev-parse", f"{result.tip}^{{tree}}") == \
        git(tree.path, "rev-parse", "HEAD^{tree}")


def test_import_refuses_an_existing_folder_and_a_bad_commit(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    template.import_commit(tree.path, sha, tmp_path / "s", "0001-a")
    with pytest.raises(UserError, match="exists already"):
        template.import_commit(tree.path, sha, tmp_path / "s", "0001-a")
    with pytest.raises(UserError, match="is not a git repository"):
        template.import_commit(tmp_path / "nothing", sha, tmp_path / "s", "0002-b")
    with pytest.raises(UserError, match="is not a commit"):
        template.import_commit(tree.path, "nope", tmp_path / "s", "0002-b")
    with pytest.raises(UserError, match="has 0 parents"):
        template.import_commit(tree.path, tree.base_commit, tmp_path / "s", "0002-b")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["0001-a", "series.toml"]


def test_choose_edit_grows_context_until_unique():
    cur = ["a\n", "x\n", "b\n", "x\n", "c\n"]
    # replacing the 2nd 'x' needs a neighbour line
    e = template.choose_edit(cur, 3, 1, ["y\n"])
    assert e == {"op": "replace", "anchor": ["b\n", "x\n"], "code": ["b\n", "y\n"]}
    e = template.choose_edit(cur, 2, 1, [])
    assert e == {"op": "delete", "anchor": ["b\n"], "code": []}
    e = template.choose_edit(cur, 2, 0, ["new\n"])      # between x and b
    assert e == {"op": "insert_before", "anchor": ["b\n"], "code": ["new\n"]}
    e = template.choose_edit(cur, 0, 0, ["top\n"])
    assert e["op"] == "insert_before" and e["anchor"] == ["a\n"]


def test_escape_and_profile_substitution_render_back_exactly():
    text = "a {{b}} {%c%} {#d#} {zram_slot_lock( zram_slot_locked zram_slot_lock\n"
    names = {"slot_lock": "zram_slot_lock"}
    src = template.to_template(text, names)
    assert "{{ slot_lock }}" in src and "zram_slot_locked" in src
    assert render.render_template(src, "t", names) == text
    assert render.render_template(src, "t", {"slot_lock": "slot_lock"}) == \
        text.replace("zram_slot_lock(", "slot_lock(").replace(" zram_slot_lock\n", " slot_lock\n")


@pytest.mark.parametrize("s", ["x", "it's", "a\nb\n", "tab\there\n", "a'''b\n", "end'\n", ""])
def test_toml_strings_read_back(s):
    assert tomllib.loads(f"v = {template.toml_string(s)}\n")["v"] == s


def test_cli_template_import(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    assert cli.main(["template", "import", "--repo", str(tree.path), "--commit", sha,
                     "--series", str(tmp_path / "s"), "--patch", "0001-x"]) == 0
    assert (tmp_path / "s" / "0001-x" / "edits.toml").is_file()


def test_import_a_range_names_patches_and_renders_to_the_tip(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    commit_change(tree.path)
    h = tree.path / "mm" / "swap.h"
    h.write_text(h.read_text().replace("struct swap_iocb;\n", "struct swap_iocb;\nstruct swap_ops;\n"))
    git(tree.path, "commit", "-qam", "mm/swap: declare struct swap_ops")
    series_dir = tmp_path / "templates" / "ranged"
    assert cli.main(["template", "import", "--repo", str(tree.path), "--commit",
                     f"{tree.base_commit}..HEAD", "--series", str(series_dir),
                     "--profile", "linux-source-6.12"]) == 0
    spec = tomllib.loads((series_dir / "series.toml").read_text())
    assert spec["patches"] == ["0001-mm-zram-a-change-to-import",
                               "0002-mm-swap-declare-struct-swap_ops"]
    result = render.render(str(series_dir), tree, author=AUTHOR, profiles=PROFILES)
    assert git(tree.path, "rev-parse", f"{result.tip}^{{tree}}") == \
        git(tree.path, "rev-parse", "HEAD^{tree}")
