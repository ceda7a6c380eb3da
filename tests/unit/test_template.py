"""patchkit template import: a commit becomes a patch folder that renders back to it."""

import tomllib

import pytest

from mini_trees import AUTHOR, PROFILES, git
from patchkit import cli, render, template, templating
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
    assert folder == series_dir / "v1" / "0001-change"
    assert (folder / "message.j2").read_text() == "mm/zram: a change to import\n\nWhy: tests.\n"
    assert sorted(p.name for p in folder.iterdir()) == ["change.diff", "message.j2"]
    result = render.render(str(series_dir), tree, author=AUTHOR, profiles=PROFILES)
    assert result.base == tree.base_commit
    assert git(tree.path, "rev-parse", f"{result.tip}^{{tree}}") == \
        git(tree.path, "rev-parse", f"{sha}^{{tree}}")
    diff = (folder / "change.diff").read_text()
    # a reviewable diff: file headers, hunks, no index lines; a new file is a new file
    assert diff.startswith("diff --git a/drivers/block/zram/zram_drv.c "
                           "b/drivers/block/zram/zram_drv.c\n--- a/")
    assert "\nindex " not in diff
    assert "diff --git a/mm/swap_ops.c b/mm/swap_ops.c\nnew file mode 100644\n" in diff
    assert "-\tunsigned int pages;\t\t/* total of usable pages of swap */\n" in diff
    version = tomllib.loads((series_dir / "v1" / "version.toml").read_text())
    assert version["trees"] == ["linux-source-6.12"] and version["patches"] == ["0001-change"]


def test_imported_diff_uses_profile_names_and_renders_on_the_other_tree(make_mini_tree,
                                                                        tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    series_dir = tmp_path / "series" / "imported"
    folder = template.import_commit(tree.path, sha, series_dir, "0001-change",
                                    profile="linux-source-6.12", profiles=PROFILES)
    diff = (folder / "change.diff").read_text()
    assert "+\t{{ mark_slot_accessed }}(zram, index);\n" in diff
    assert "zram_accessed" not in diff
    # literal Jinja in kernel text is escaped, not evaluated
    assert "{{ '{{' }}done}}" in diff and "{{ '{%' }} not jinja %}" in diff
    vt = series_dir / "v1" / "version.toml"
    text = vt.read_text()
    assert 'trees = ["linux-source-6.12"]\n' in text
    vt.write_text(text.replace('trees = ["linux-source-6.12"]',
                               'trees = ["linux-source-6.12", "mm-2026"]'))
    new = make_mini_tree("mm-2026")
    result = render.render(str(series_dir), new, author=AUTHOR, profiles=PROFILES)
    text = git(new.path, "show", f"{result.tip}:{ZRAM}")
    assert "\tslot_free(zram, index);\n\tmark_slot_accessed(zram, index);\n" \
           "\tslot_unlock(zram, index);\n" in text
    assert "\tup_read(&zram->dev_lock); /* {{done}} */\n" in text
    assert git(new.path, "show", f"{result.tip}:mm/swap_ops.c").endswith(
        "/* {% not jinja %} */\nint swap_ops_ready;")


def test_profile_none_keeps_the_kernel_names(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    folder = template.import_commit(tree.path, sha, tmp_path / "s", "0001-a", profile="none")
    assert "+\tzram_accessed(zram, index);\n" in (folder / "change.diff").read_text()
    assert tomllib.loads((tmp_path / "s" / "v1" / "version.toml").read_text())["trees"] == \
        ["linux-source-6.12"]


def second_commit(repo):
    h = repo / "mm" / "swap.h"
    h.write_text(h.read_text().replace("struct swap_iocb;\n",
                                       "struct swap_iocb;\nstruct swap_ops;\n"))
    git(repo, "commit", "-qam", "mm/swap: declare struct swap_ops")
    return git(repo, "rev-parse", "HEAD")


def test_import_a_range_names_patches_and_renders_to_the_tip(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    commit_change(tree.path)
    second_commit(tree.path)
    series_dir = tmp_path / "templates" / "ranged"
    assert cli.main(["template", "import", "--repo", str(tree.path), "--commit",
                     f"{tree.base_commit}..HEAD", "--series", str(series_dir),
                     "--version", "3"]) == 0
    spec = tomllib.loads((series_dir / "series.toml").read_text())
    assert (spec["subject"], spec["version"]) == ("mm/zram: a change to import", 3)
    version = tomllib.loads((series_dir / "v3" / "version.toml").read_text())
    assert version["patches"] == ["0001-mm-zram-a-change-to-import",
                                  "0002-mm-swap-declare-struct-swap_ops"]
    result = render.render(str(series_dir), tree, author=AUTHOR, profiles=PROFILES)
    assert result.series.version == 3
    assert git(tree.path, "rev-parse", f"{result.tip}^{{tree}}") == \
        git(tree.path, "rev-parse", "HEAD^{tree}")


def test_reimport_after_a_rebase_updates_the_diffs_in_place(make_mini_tree, tmp_path):
    """The maintainer's loop: render, edit with git, import again, review."""
    tree = make_mini_tree("zram-6.12")
    commit_change(tree.path)
    second_commit(tree.path)
    series_dir = tmp_path / "s"
    template.import_range(tree.path, f"{tree.base_commit}..HEAD", series_dir,
                          profiles=PROFILES)
    patch2 = series_dir / "v1" / "0002-mm-swap-declare-struct-swap_ops"
    before = (patch2 / "change.diff").read_text()
    # amend the second commit (as rebase -i would) and import again
    h = tree.path / "mm" / "swap.h"
    h.write_text(h.read_text().replace("struct swap_ops;\n", "struct swap_ops;\t/* ops */\n"))
    git(tree.path, "commit", "-q", "-a", "--amend", "--no-edit")
    template.import_range(tree.path, f"{tree.base_commit}..HEAD", series_dir,
                          profiles=PROFILES)
    after = (patch2 / "change.diff").read_text()
    assert after == before.replace("+struct swap_ops;\n", "+struct swap_ops;\t/* ops */\n")
    assert sorted(p.name for p in patch2.iterdir()) == ["change.diff", "message.j2"]
    # a range of another length does not silently re-map the patches
    with pytest.raises(UserError, match="lists 2 patches, the range holds 1 commits"):
        template.import_range(tree.path, f"{tree.base_commit}..HEAD~1", series_dir,
                              profiles=PROFILES)


def test_import_from_a_second_tree_adds_a_diff_only_where_it_differs(make_mini_tree, tmp_path):
    old, new = make_mini_tree("zram-6.12"), make_mini_tree("mm-2026")
    series_dir = tmp_path / "s"
    # the same change on both trees: one diff serves both through the profiles
    for t in (old, new):
        path = t.path / "mm" / "swap.h"
        path.write_text(path.read_text().replace("struct swap_iocb;\n",
                                                 "struct swap_iocb;\nstruct swap_ops;\n"))
        git(t.path, "commit", "-qam", "mm/swap: declare struct swap_ops")
        zram = t.path / ZRAM
        text = zram.read_text()
        extra = "/* mm-2026 only */\n" if t is new else ""
        zram.write_text(text.replace("static int zram_major;\n",
                                     "static int zram_major;\n/* a note */\n" + extra))
        git(t.path, "commit", "-qam", "zram: a note")
    template.import_range(old.path, f"{old.base_commit}..HEAD", series_dir,
                          tree_name="linux-source-6.12", profiles=PROFILES)
    template.import_range(new.path, f"{new.base_commit}..HEAD", series_dir,
                          tree_name="mm-2026", profiles=PROFILES)
    v1 = series_dir / "v1"
    assert sorted(p.name for p in (v1 / "0001-mm-swap-declare-struct-swap_ops").iterdir()) == \
        ["change.diff", "message.j2"]
    assert sorted(p.name for p in (v1 / "0002-zram-a-note").iterdir()) == \
        ["change.diff", "message.j2", "mm-2026.diff"]
    assert tomllib.loads((v1 / "version.toml").read_text())["trees"] == \
        ["linux-source-6.12", "mm-2026"]
    for t in (old, new):
        result = render.render(str(series_dir), t, author=AUTHOR, profiles=PROFILES)
        assert git(t.path, "rev-parse", f"{result.tip}^{{tree}}") == \
            git(t.path, "rev-parse", "HEAD^{tree}")


def test_import_refuses_bad_input_and_writes_nothing(make_mini_tree, tmp_path):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    with pytest.raises(UserError, match="is not a git repository"):
        template.import_commit(tmp_path / "nothing", sha, tmp_path / "s", "0002-b")
    with pytest.raises(UserError, match="is not a commit"):
        template.import_commit(tree.path, "nope", tmp_path / "s", "0002-b")
    with pytest.raises(UserError, match="has 0 parents"):
        template.import_commit(tree.path, tree.base_commit, tmp_path / "s", "0002-b")
    (tree.path / "blob.bin").write_bytes(b"\0\1\2")
    git(tree.path, "add", "blob.bin")
    git(tree.path, "commit", "-qm", "binary")
    with pytest.raises(UserError, match="changes a binary file"):
        template.import_commit(tree.path, "HEAD", tmp_path / "s", "0002-b")
    assert not (tmp_path / "s").exists()


def test_a_failed_round_trip_writes_nothing(make_mini_tree, tmp_path, monkeypatch):
    tree = make_mini_tree("zram-6.12")
    sha = commit_change(tree.path)
    # a diff template that loses a line: the round trip must catch it
    real = template.diff_template
    monkeypatch.setattr(template, "diff_template",
                        lambda diff, names: real(diff, names).replace(
                            "+MODULE_DESCRIPTION(\"mini\");\n", "", 1))
    with pytest.raises(UserError, match="does not give the commit's tree"):
        template.import_commit(tree.path, sha, tmp_path / "s", "0001-a")
    assert not (tmp_path / "s").exists()


def test_escape_and_profile_substitution_render_back_exactly():
    text = "a {{b}} {%c%} {#d#} {zram_slot_lock( zram_slot_locked zram_slot_lock\n"
    names = {"slot_lock": "zram_slot_lock"}
    src = template.to_template(text, names)
    assert "{{ slot_lock }}" in src and "zram_slot_locked" in src
    assert templating.render_template(src, "t", names) == text
    assert templating.render_template(src, "t", {"slot_lock": "slot_lock"}) == \
        text.replace("zram_slot_lock(", "slot_lock(").replace(" zram_slot_lock\n", " slot_lock\n")


def test_diff_template_leaves_file_headers_alone():
    diff = ("diff --git a/mm/zram_slot_lock.c b/mm/zram_slot_lock.c\n"
            "index 0123456789ab..ba9876543210 100644\n"
            "--- a/mm/zram_slot_lock.c\n+++ b/mm/zram_slot_lock.c\n"
            "@@ -1,1 +1,1 @@ void zram_slot_lock(void)\n-zram_slot_lock();\n+x();\n")
    out = template.diff_template(diff, {"slot_lock": "zram_slot_lock"})
    assert out == ("diff --git a/mm/zram_slot_lock.c b/mm/zram_slot_lock.c\n"
                   "--- a/mm/zram_slot_lock.c\n+++ b/mm/zram_slot_lock.c\n"
                   "@@ -1,1 +1,1 @@ void {{ slot_lock }}(void)\n-{{ slot_lock }}();\n+x();\n")


@pytest.mark.parametrize("s", ["x", "it's", "a\nb\n", "tab\there\n", "a\'\'\'b\n", "end'\n", ""])
def test_toml_strings_read_back(s):
    assert tomllib.loads(f"v = {template.toml_string(s)}\n")["v"] == s
