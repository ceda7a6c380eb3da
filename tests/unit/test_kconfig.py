import pytest

from patchkit import kconfig, paths
from patchkit.errors import UserError

CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14+deb12u1) 12.2.0"
CONFIG_SWAP=y
CONFIG_ZRAM=m
# CONFIG_ZRAM_WRITEBACK is not set
CONFIG_NR_CPUS=64
"""


def test_parse_reads_set_unset_and_skips_comments():
    entries = kconfig.parse(CONFIG, "x/.config")
    assert {s: e.value for s, e in entries.items()} == {
        "CONFIG_CC_VERSION_TEXT": '"gcc (Debian 12.2.0-14+deb12u1) 12.2.0"',
        "CONFIG_SWAP": "y",
        "CONFIG_ZRAM": "m",
        "CONFIG_ZRAM_WRITEBACK": "n",
        "CONFIG_NR_CPUS": "64",
    }
    assert entries["CONFIG_ZRAM"].line == 6
    assert entries["CONFIG_ZRAM"].origin == "x/.config"


def test_parse_rejects_a_typo_naming_file_and_line():
    with pytest.raises(UserError) as exc:
        kconfig.parse("CONFIG_SWAP=y\nZRAM=y\n", "frag.config")
    assert "frag.config:2" in str(exc.value)
    with pytest.raises(UserError, match="frag.config:1"):
        kconfig.parse("CONFIG_SWAP=\n", "frag.config")


def test_merge_lets_the_last_fragment_win():
    wanted = kconfig.merge([("a", "CONFIG_ZRAM=y\nCONFIG_SWAP=y\n"),
                            ("b", "CONFIG_ZRAM=m\n"),
                            ("c", "# CONFIG_SWAP is not set\n")])
    assert wanted["CONFIG_ZRAM"].value == "m" and wanted["CONFIG_ZRAM"].origin == "b"
    assert wanted["CONFIG_SWAP"].value == "n" and wanted["CONFIG_SWAP"].origin == "c"


def test_not_landed_names_values_that_differ_or_vanished():
    wanted = kconfig.merge([("frag", "CONFIG_SWAP=y\nCONFIG_ZRAM=y\nCONFIG_DETECT_HUNG_TASK=y\n"
                                     "# CONFIG_ZRAM_WRITEBACK is not set\n")])
    misses = kconfig.not_landed(wanted, kconfig.values(CONFIG))
    assert [(m.entry.symbol, m.got) for m in misses] == [
        ("CONFIG_ZRAM", "m"), ("CONFIG_DETECT_HUNG_TASK", None)]
    assert misses[1].describe() == "CONFIG_DETECT_HUNG_TASK: wanted y, got not set (frag:3)"


def test_unset_is_satisfied_by_absent_or_not_set_but_not_by_y():
    wanted = kconfig.merge([("f", "# CONFIG_ZRAM_WRITEBACK is not set\n# CONFIG_KASAN is not set\n"
                                  "# CONFIG_SWAP is not set\n")])
    misses = kconfig.not_landed(wanted, kconfig.values(CONFIG))
    assert [m.entry.symbol for m in misses] == ["CONFIG_SWAP"]
    assert misses[0].describe() == "CONFIG_SWAP: wanted not set, got y (f:3)"


def test_string_and_number_values_compare_exactly():
    wanted = kconfig.merge([("f", "CONFIG_NR_CPUS=64\nCONFIG_CC_VERSION_TEXT=\"gcc\"\n")])
    assert [m.entry.symbol for m in kconfig.not_landed(wanted, kconfig.values(CONFIG))] == [
        "CONFIG_CC_VERSION_TEXT"]


def test_fragments_hash_depends_on_content_and_order_not_names():
    a = [("x/minimal.config", "CONFIG_SWAP=y\n"), ("y", "CONFIG_ZRAM=m\n")]
    renamed = [("other", "CONFIG_SWAP=y\n"), ("z", "CONFIG_ZRAM=m\n")]
    assert kconfig.fragments_hash(a) == kconfig.fragments_hash(renamed)
    assert kconfig.fragments_hash(a) != kconfig.fragments_hash(list(reversed(a)))
    assert kconfig.fragments_hash(a) != kconfig.fragments_hash(a[:1])


def test_shipped_fragments_parse_and_cover_the_issue_list():
    minimal = kconfig.parse((paths.CONFIGS / "minimal.config").read_text(), "minimal")
    debug = kconfig.parse((paths.CONFIGS / "debug.config").read_text(), "debug")
    assert "CONFIG_ZSMALLOC" not in minimal  # selected by ZRAM; pinned it breaks ZRAM=m
    for sym in ("SWAP", "ZRAM", "ZRAM_BACKEND_LZ4", "ZRAM_BACKEND_ZSTD", "ZRAM_BACKEND_LZO",
                "ZRAM_WRITEBACK", "MEMCG", "TRANSPARENT_HUGEPAGE", "VIRTIO_BLK", "SERIAL_8250_CONSOLE",
                "DEVTMPFS", "PROC_FS", "SYSFS", "DEBUG_FS", "MODULES", "BLK_DEV"):
        assert minimal[f"CONFIG_{sym}"].value == "y", sym
    for sym in ("PROVE_LOCKING", "DEBUG_ATOMIC_SLEEP", "DEBUG_VM", "DEBUG_LIST", "KASAN"):
        assert debug[f"CONFIG_{sym}"].value == "y", sym


def test_read_fragment_reports_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="cannot read config fragment .*nope.config"):
        kconfig.read_fragment(tmp_path / "nope.config")


MARKED = """\
CONFIG_NFS_V4=y
# patchkit: may be undefined: Linux 7.3 has no NFS_V4_1 (v4.1 is part of NFS_V4)
CONFIG_NFS_V4_1=y
CONFIG_NFS_V4_2=y
"""


def _tree(tmp_path, kconfig_text):
    (tmp_path / "fs/nfs").mkdir(parents=True)
    (tmp_path / "fs/nfs/Kconfig").write_text(kconfig_text)
    return tmp_path


def test_a_marked_value_lands_by_absence_on_a_tree_without_the_symbol(tmp_path):
    wanted = kconfig.merge([("nfs.config", MARKED)])
    assert wanted["CONFIG_NFS_V4_1"].may_be_undefined
    assert not wanted["CONFIG_NFS_V4_2"].may_be_undefined  # only the next value
    src = _tree(tmp_path, "config NFS_V4\n\tbool\nconfig NFS_V4_2\n\tbool\n")
    got = {"CONFIG_NFS_V4": "y", "CONFIG_NFS_V4_2": "y"}
    defined = lambda symbols: kconfig.defined_symbols(src, symbols)  # noqa: E731
    assert kconfig.not_landed(wanted, got, defined) == []
    # without knowing the tree's symbols, nothing is excused
    assert [m.entry.symbol for m in kconfig.not_landed(wanted, got)] == ["CONFIG_NFS_V4_1"]


def test_a_marked_value_must_land_where_the_tree_defines_the_symbol(tmp_path):
    wanted = kconfig.merge([("nfs.config", MARKED)])
    src = _tree(tmp_path, "menuconfig NFS_V4\n\tbool\nconfig NFS_V4_1\n\tbool\nconfig NFS_V4_2\n")
    got = {"CONFIG_NFS_V4": "y", "CONFIG_NFS_V4_2": "y"}
    misses = kconfig.not_landed(wanted, got, lambda s: kconfig.defined_symbols(src, s))
    assert [m.describe() for m in misses] == ["CONFIG_NFS_V4_1: wanted y, got not set (nfs.config:3)"]


def test_an_unmarked_value_is_never_excused(tmp_path):
    wanted = kconfig.merge([("f", "CONFIG_GONE=y\n")])
    src = _tree(tmp_path, "config OTHER\n")
    assert len(kconfig.not_landed(wanted, {}, lambda s: kconfig.defined_symbols(src, s))) == 1


def test_an_unknown_patchkit_note_is_a_typo_naming_the_line():
    with pytest.raises(UserError, match="f.config:1: unknown patchkit note"):
        kconfig.parse("# patchkit: maybe undefined\nCONFIG_X=y\n", "f.config")
