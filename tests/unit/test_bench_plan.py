"""patchkit bench: which kernels a rendered bench compares on each tree (benchrun.plan)."""

import shutil

import pytest

from mini_trees import SERIES
from patchkit import benchreport, benchrun
from patchkit.errors import UserError


@pytest.fixture
def root(tmp_path):
    """mini-base v1 (6.12, mm-2026); mini-zram v2 on mini-base v1, and a v3 for 6.12 (on a
    mini-base v2) and for 7.3, where it needs no base layer."""
    root = tmp_path / "series"
    for name in ("mini-base", "mini-zram"):
        shutil.copytree(SERIES / name, root / name)
    shutil.copytree(root / "mini-base" / "v1", root / "mini-base" / "v2")
    (root / "mini-base" / "v2" / "version.toml").write_text(
        'trees = ["linux-source-6.12"]\ndate = 2026-07-01T12:00:00Z\npatches = ["0001-swap-ops", "0002-page-io"]\n')
    shutil.copytree(root / "mini-zram" / "v2", root / "mini-zram" / "v3")
    (root / "mini-zram" / "v3" / "version.toml").write_text(
        'trees = ["linux-source-6.12", "linux-source-7.3"]\ndate = 2026-07-01T12:00:00Z\n'
        'patches = ["0001-zram-swap-ops"]\n[depends]\n"linux-source-6.12" = "mini-base v2"\n'
        '"linux-source-7.3" = ""\n')
    return root


def test_a_tree_with_the_base_merged_benches_two_kernels(root):
    p = benchrun.plan("mini-zram", "linux-source-7.3", root=root)
    assert p.series == ("mini-zram", 3)   # the only version for 7.3
    assert p.base_layer is None and p.series_base is None
    assert benchreport.labels_for(p.base_layer and p.base_layer[0]) == ("baseline", "series")
    assert p.names() == {"series": "mini-zram v3"} and p.note() == ""
    assert benchreport.titles_for("linux-source-7.3", ("baseline", "series"), p.names()) == {
        "baseline": "mainline 7.3", "base-layer": "base layer", "series": "series (mini-zram v3)"}


def test_the_base_layer_is_the_one_the_series_version_sits_on(root):
    p = benchrun.plan("mini-zram", "linux-source-6.12", root=root)
    assert (p.series, p.base_layer, p.series_base) == (("mini-zram", 2), ("mini-base", 1), ("mini-base", 1))
    p = benchrun.plan("mini-zram", "linux-source-6.12", series_version=3, root=root)
    assert (p.series, p.base_layer) == (("mini-zram", 3), ("mini-base", 2))
    assert p.names() == {"series": "mini-zram v3", "base-layer": "mini-base v2"} and p.note() == ""


def test_none_benches_two_kernels_and_a_named_base_takes_the_series_version_of_it(root):
    assert benchrun.plan("mini-zram", "linux-source-6.12", "none", root=root).base_layer is None
    assert benchrun.plan("mini-zram", "linux-source-6.12", "mini-base", 3, root=root).base_layer == ("mini-base", 2)
    p = benchrun.plan("mini-zram", "linux-source-6.12", "mini-base v2", root=root)
    assert (p.base_layer, p.series_base) == (("mini-base", 2), ("mini-base", 1)) and p.note()
    with pytest.raises(UserError, match="expected NAME or 'NAME vN'"):
        benchrun.plan("mini-zram", "linux-source-6.12", "mini-base 2", root=root)
    with pytest.raises(UserError, match="does not support tree linux-source-7.3"):
        benchrun.plan("mini-zram", "linux-source-7.3", "mini-base", root=root)


def test_a_base_layer_the_series_does_not_sit_on_is_said(root):
    p = benchrun.Plan("linux-source-6.12", ("zram-swap-ops", 1), ("swap-batching", 2), ("swap-batching", 1))
    assert p.names() == {"series": "zram-swap-ops v1 on swap-batching v1", "base-layer": "swap-batching v2"}
    assert "mixes two base layers" in p.note() and "swap-batching v1" in p.note()


def test_a_series_version_that_does_not_exist_is_a_clear_error(root):
    with pytest.raises(UserError, match="unknown version v9"):
        benchrun.plan("mini-zram", "linux-source-6.12", series_version=9, root=root)
