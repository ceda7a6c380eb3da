"""patchkit apply on mini checkouts: refusal, rollback, idempotence, dependencies."""

import shutil

import pytest

from mini_trees import AUTHOR, PROFILES, SERIES, git, snapshot
from patchkit import apply, cli, render
from patchkit import tree as trees
from patchkit.errors import UserError


@pytest.fixture
def rendered(make_mini_tree, tmp_path):
    """mini-zram (and its dependency mini-base) rendered on the pinned mini tree."""
    tree = make_mini_tree("zram-6.12")
    return render.render("mini-zram", tree, author=AUTHOR, root=SERIES, profiles=PROFILES,
                         out_root=tmp_path / "out")


@pytest.fixture
def checkout(make_mini_tree):
    return make_mini_tree("zram-6.12", where="checkout").path


def subjects(repo, rev_range):
    return git(repo, "log", "--reverse", "--format=%s", rev_range).splitlines()


def test_apply_puts_dependency_then_series_on_a_new_branch(rendered, checkout):
    base = git(checkout, "rev-parse", "HEAD")
    result = apply.apply_chain(checkout, apply.chain_from_render(rendered))
    assert result.applied == ["mini-base", "mini-zram"]
    assert git(checkout, "symbolic-ref", "--short", "HEAD") == "patchkit/mini-zram-v2"
    assert subjects(checkout, f"{base}..HEAD") == [
        "mm/swap: add struct swap_ops", "mm/page_io: count bvecs in struct swap_iocb",
        "mm/zram: free slots through swap_ops"]
    # same content as the render on the pinned tree
    assert git(checkout, "rev-parse", "HEAD^{tree}") == \
        git(rendered.repo, "rev-parse", f"{rendered.tip}^{{tree}}")
    assert git(checkout, "status", "--porcelain") == ""


def test_applying_again_says_so_and_changes_nothing(rendered, checkout, capsys):
    chain = apply.chain_from_render(rendered)
    apply.apply_chain(checkout, chain)
    before = snapshot(checkout)
    again = apply.apply_chain(checkout, chain)
    assert again.already and again.applied == []
    assert snapshot(checkout) == before
    assert "already applied on patchkit/mini-zram-v2; nothing changed" in capsys.readouterr().err
    # from the original branch: the series branch already holds it
    git(checkout, "checkout", "-q", "master")
    before = snapshot(checkout)
    assert apply.apply_chain(checkout, chain).already
    assert snapshot(checkout) == before
    assert "already applied on branch patchkit/mini-zram-v2" in capsys.readouterr().err


def test_an_applied_dependency_is_not_applied_twice(rendered, checkout):
    (dep,) = rendered.dependencies
    apply.apply_chain(checkout, apply.chain_from_render(dep))
    dep_head = git(checkout, "rev-parse", "HEAD")
    result = apply.apply_chain(checkout, apply.chain_from_render(rendered))
    assert result.applied == ["mini-zram"]
    assert subjects(checkout, f"{dep_head}..HEAD") == ["mm/zram: free slots through swap_ops"]
    assert git(checkout, "rev-parse", "patchkit/mini-base-v1") == dep_head


def test_dirty_work_tree_is_refused_and_left_untouched(rendered, checkout):
    (checkout / "mm" / "swap.h").write_text("/* local work */\n")
    (checkout / "include" / "linux" / "blkdev.h").unlink()
    before = snapshot(checkout)
    with pytest.raises(UserError) as exc:
        apply.apply_chain(checkout, apply.chain_from_render(rendered))
    assert str(exc.value).startswith(f"{checkout} has uncommitted changes in: "
                                     "include/linux/blkdev.h, mm/swap.h")
    assert snapshot(checkout) == before


def test_a_different_base_is_refused_naming_the_files(rendered, checkout):
    (checkout / "mm" / "page_io.c").write_text("/* someone else's page_io */\n")
    git(checkout, "commit", "-qam", "local change")
    before = snapshot(checkout)
    with pytest.raises(UserError) as exc:
        apply.apply_chain(checkout, apply.chain_from_render(rendered))
    msg = str(exc.value)
    assert "the files mini-zram touches do not match its base: mm/page_io.c (checkout " in msg
    assert "mm/swap.h" not in msg.split("hint")[0]
    assert snapshot(checkout) == before


def break_second_patch(rendered, tmp_path):
    """Copies of the rendered folders whose 2nd mini-base patch no longer applies."""
    out = tmp_path / "edited"
    for r in [*rendered.dependencies, rendered]:
        shutil.copytree(r.out_dir, out / r.out_dir.name)
    (second,) = (out / "mini-base-v1").glob("0002-*.patch")
    text = second.read_text()
    assert "-\tint\t\t\tpages;\n" in text
    second.write_text(text.replace("-\tint\t\t\tpages;\n", "-\tint\t\t\tpagez;\n"))
    return apply.chain_from_folder(str(SERIES / "mini-zram"), out / "mini-zram-v2")


@pytest.mark.parametrize("detached", [False, True])
def test_conflict_rolls_back_branch_head_and_work_tree(rendered, checkout, tmp_path, detached):
    if detached:
        git(checkout, "checkout", "-q", "--detach")
    chain = break_second_patch(rendered, tmp_path)
    before = snapshot(checkout)
    with pytest.raises(apply.ApplyConflict) as exc:
        apply.apply_chain(checkout, chain)
    msg = str(exc.value)
    assert msg.startswith("mini-base: 0002-mm-page_io-count-bvecs-in-struct-swap_iocb.patch "
                          f"does not apply to {checkout}: conflicts in mm/page_io.c;")
    assert snapshot(checkout) == before   # branch list, HEAD, status, every file
    assert not (checkout / ".git" / "rebase-apply").exists()


def test_not_a_git_checkout(tmp_path, rendered):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UserError, match="is not a git checkout"):
        apply.apply_chain(plain, apply.chain_from_render(rendered))


def test_index_lines_give_blob_ids(rendered):
    changes = apply.changes_of(rendered.patch_files[0])
    assert [c.path for c in changes] == ["drivers/block/zram/zram_drv.c",
                                         "include/linux/blkdev.h"]
    sha = git(rendered.repo, "rev-parse", f"{rendered.base}:include/linux/blkdev.h")
    assert sha.startswith(changes[1].old) and len(changes[1].old) == 12


def test_cli_apply_from_rendered_folder(rendered, checkout, capsys):
    code = cli.main(["apply", str(SERIES / "mini-zram"), "--tree", str(checkout),
                     "--patches", str(rendered.out_dir)])
    assert code == 0
    assert git(checkout, "symbolic-ref", "--short", "HEAD") == "patchkit/mini-zram-v2"
    assert cli.main(["apply", str(SERIES / "mini-zram"), "--tree", str(checkout),
                     "--patches", str(rendered.out_dir)]) == 0
    assert "already applied" in capsys.readouterr().err


def test_cli_apply_conflict_exits_non_zero(rendered, checkout, tmp_path, capsys):
    break_second_patch(rendered, tmp_path)
    code = cli.main(["apply", str(SERIES / "mini-zram"), "--tree", str(checkout),
                     "--patches", str(tmp_path / "edited" / "mini-zram-v2")])
    assert code == 2
    assert "conflicts in mm/page_io.c" in capsys.readouterr().err


def test_unknown_committer_is_refused_before_anything_changes(rendered, checkout, monkeypatch):
    git(checkout, "config", "--unset", "user.email")
    git(checkout, "config", "--unset", "user.name")
    git(checkout, "config", "user.useConfigOnly", "true")  # no guessing from the host
    monkeypatch.delenv("EMAIL", raising=False)
    before = snapshot(checkout)
    with pytest.raises(UserError, match="git does not know who you are"):
        apply.apply_chain(checkout, apply.chain_from_render(rendered))
    assert snapshot(checkout) == before


def test_cli_apply_renders_on_the_pinned_tree_first(make_mini_tree, checkout, monkeypatch):
    pinned = make_mini_tree("zram-6.12")
    monkeypatch.setattr(trees, "open_tree", lambda spec: pinned if spec is None else None)
    monkeypatch.setattr(render.paths, "PROFILES", PROFILES)
    assert cli.main(["apply", str(SERIES / "mini-zram"), "--tree", str(checkout),
                     "--author", AUTHOR]) == 0
    assert git(checkout, "rev-parse", "HEAD^{tree}") == \
        git(pinned.path, "rev-parse", "patchkit/mini-zram-v2^{tree}")
    assert git(checkout, "log", "-1", "--format=%an <%ae>") == AUTHOR


def test_cli_apply_on_a_plain_folder_exits_2_before_rendering(tmp_path, monkeypatch, capsys):
    def no_render(spec):
        raise AssertionError("rendered although the checkout is not a repository")
    monkeypatch.setattr(trees, "open_tree", no_render)
    assert cli.main(["apply", str(SERIES / "mini-zram"), "--tree", str(tmp_path)]) == 2
    assert f"{tmp_path} is not a git checkout" in capsys.readouterr().err


def test_patches_folder_follows_the_dependency_declared_for_its_tree(tmp_path):
    """zram-swap-ops v1 declares swap-batching v1 for linux-source-6.12 only:
    applying rendered patches takes the dependency for the tree they were
    rendered on (--on, default the pinned tree), none where there is none."""
    from patchkit import paths, series as series_mod
    out = tmp_path / "out"
    for d in ("swap-batching-v1", "zram-swap-ops-v1"):
        (out / d).mkdir(parents=True)
        (out / d / "0001-x.patch").write_text("")
    chain = apply.chain_from_folder("zram-swap-ops", out / "zram-swap-ops-v1", version=1,
                                    tree="linux-source-6.12")
    assert [c.series.label for c in chain] == ["swap-batching v1", "zram-swap-ops v1"]
    assert [c.files for c in chain] == [[out / "swap-batching-v1" / "0001-x.patch"],
                                        [out / "zram-swap-ops-v1" / "0001-x.patch"]]
    root = tmp_path / "templates"
    shutil.copytree(paths.TEMPLATES / "zram-swap-ops", root / "zram-swap-ops")
    vt = root / "zram-swap-ops" / "v1" / "version.toml"
    vt.write_text(vt.read_text().replace('trees = ["linux-source-6.12"]',
                                         'trees = ["linux-source-6.12", "other"]')
                  + '"other" = ""\n')
    alone = series_mod.chain("zram-swap-ops", root, version=1, tree="other")
    assert [s.label for s in alone] == ["zram-swap-ops v1"]
