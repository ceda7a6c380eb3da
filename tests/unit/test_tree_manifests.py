"""The manifests kept in kernel-fixtures/manifests/ are complete and consistent."""

from __future__ import annotations

import re

import pytest

from patchkit import manifests, paths

MANIFESTS = manifests.manifests()


def test_the_debian_trees_and_mainline_are_pinned():
    assert {"linux-source-6.12", "linux-source-6.1", "linux-source-7.3"} <= {m.name for m in MANIFESTS}
    assert manifests.DEFAULT_TREE == "linux-source-6.12"


@pytest.mark.parametrize("m", MANIFESTS, ids=lambda m: m.name)
def test_every_manifest_can_be_downloaded_and_checked(m):
    # a suite to download exactly this version from, and the .deb's hash
    assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", m.suite)
    assert re.fullmatch(r"[0-9a-f]{64}", m.deb_sha256)
    assert m.swap_ops_base is not None


def test_only_mainline_has_the_swap_ops_base():
    have = {m.name: m.swap_ops_base for m in MANIFESTS}
    assert have["linux-source-7.3"] is True
    assert have["linux-source-6.12"] is False and have["linux-source-6.1"] is False
    mainline = manifests.load_manifest("linux-source-7.3")
    assert mainline.files[manifests.SWAP_OPS_HEADER] != manifests.ABSENT


def test_mainline_profile_has_every_name_the_other_profiles_have():
    import tomllib
    names = {p.stem: set(tomllib.loads(p.read_text())["names"])
             for p in paths.PROFILES.glob("*.toml")}
    assert names["linux-source-7.3"] == names["linux-source-6.12"] == names["mm-2026"]


@pytest.mark.parametrize("m", MANIFESTS, ids=lambda m: m.name)
def test_manifest_fields_are_well_formed(m):
    assert re.fullmatch(r"[0-9a-f]{40}", m.base_commit)
    assert re.fullmatch(r"[0-9a-f]{64}", m.tarball_sha256)
    assert m.kernel_version.startswith(m.name.removeprefix("linux-source-") + ".")
    assert m.package == m.name and m.tarball == f"/usr/src/{m.name}.tar.xz"
    for path, digest in m.files.items():
        assert digest == manifests.ABSENT or re.fullmatch(r"[0-9a-f]{64}", digest), path


@pytest.mark.parametrize("m", MANIFESTS, ids=lambda m: m.name)
def test_manifest_pins_every_touched_file(m):
    assert [f for f in manifests.TOUCHED_FILES if f not in m.files] == []


@pytest.mark.parametrize("m", MANIFESTS, ids=lambda m: m.name)
def test_every_file_a_series_diff_changes_is_in_the_manifest(m):
    declared = {(str(p.relative_to(paths.TEMPLATES)), f)
                for p, files in manifests.declared_files() for f in files}
    missing = sorted(f"{where}: {f}" for where, f in declared if f not in m.files)
    assert missing == [], (f"regenerate: patchkit tree manifest {m.name} --write")


def test_default_tree_has_every_touched_file_but_mainlines_new_header():
    m = manifests.load_manifest(manifests.DEFAULT_TREE)
    assert [p for p, h in m.files.items() if h == manifests.ABSENT] == [manifests.SWAP_OPS_HEADER]


def test_declared_files_reads_the_files_each_diff_changes(tmp_path):
    patch = tmp_path / "series-a" / "v1" / "0001-x"
    patch.mkdir(parents=True)
    (patch / "change.diff").write_text(
        "diff --git a/mm/new_file.c b/mm/new_file.c\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/mm/new_file.c\n@@ -0,0 +1 @@\n+x\n"
        "diff --git a/mm/swap.h b/mm/swap.h\n--- a/mm/swap.h\n+++ b/mm/swap.h\n")
    assert manifests.declared_files(tmp_path) == [(patch / "change.diff",
                                                   ["mm/new_file.c", "mm/swap.h"])]
    assert "mm/new_file.c" in manifests.touched_files(tmp_path)


def test_the_real_series_declare_files():
    assert {f for _, files in manifests.declared_files() for f in files} >= {
        "mm/page_io.c", "drivers/block/zram/zram_drv.c"}
