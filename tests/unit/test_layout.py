"""Hot kernel functions that straddle a 4 KiB page (patchkit/layout.py), and
the bench findings made of them."""

from patchkit import benchreport, layout

MAP = """\
ffffffff81274000 T lzo1x_1_compress
ffffffff81274f30 t lzo1x_1_do_compress.constprop.0
ffffffff81274f30 t an_alias_at_the_same_address
ffffffff812753e0 d some_data
ffffffff812753e0 T lzo1x_decompress_safe
ffffffff81275a50 T memcpy_orig
ffffffff81275b70 T zram_write_page
ffffffff81276000 T the_end
"""


def test_a_hot_function_across_a_page_boundary_is_found_with_its_extent():
    found = layout.straddles(layout.read_map(MAP))
    assert found == [layout.Straddle("lzo1x_1_do_compress.constprop.0", 0xFFFFFFFF81274F30, 0x4B0)]
    assert found[0].page_offset == 0xF30


def test_hot_functions_within_one_page_and_cold_ones_across_are_not_reported():
    text = """\
ffffffff81274310 t lzo1x_1_do_compress.constprop.0
ffffffff812747c0 T lzo1x_decompress_safe
ffffffff81275a50 T memcpy_orig
ffffffff81275b70 T zram_write_page
ffffffff81276100 T the_end
"""
    # compress ends at 0x47c0 (one page); decompress runs 0x47c0-0x5a50 across 0x5000;
    # zram_write_page crosses 0x6000 but is not hot
    assert [x.function for x in layout.straddles(layout.read_map(text))] == ["lzo1x_decompress_safe"]


def test_system_map_is_found_in_the_build_dir_of_a_bzimage(tmp_path):
    build = tmp_path / "b"
    kernel = build / "arch" / "x86" / "boot" / "bzImage"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"x")
    (build / ".config").write_text("CONFIG_SWAP=y\n")
    assert layout.kernel_straddles(kernel) is None  # no System.map: unknown, not "none"
    (build / "System.map").write_text(MAP)
    assert [x.function for x in layout.kernel_straddles(kernel)] == ["lzo1x_1_do_compress.constprop.0"]


def meta(accel="tcg", **straddles):
    return {"accel": accel, "labels": list(benchreport.LABELS),
            "kernels": {lb: {"page_straddles": straddles.get(lb.replace("-", "_"), [])} for lb in benchreport.LABELS}}


LZO = {"function": "lzo1x_1_do_compress.constprop.0", "address": "0xffffffff81274f30", "size": 1200,
       "page_offset": "0xf30"}


def test_a_straddle_only_one_kernel_has_is_a_finding_under_tcg():
    found = benchreport.layout_findings(meta(base_layer=[LZO]))
    assert len(found) == 1
    assert found[0].startswith("layout: base layer: lzo1x_1_do_compress.constprop.0 (1,200 bytes from page "
                               "offset 0xf30) straddles a 4 KiB page")


def test_a_straddle_shared_with_the_baseline_is_no_finding_but_the_baselines_own_is():
    found = benchreport.layout_findings(meta(baseline=[LZO], series=[LZO]))
    assert len(found) == 1 and found[0].startswith("layout: baseline 6.12:")


def test_no_layout_findings_under_kvm():
    assert benchreport.layout_findings(meta(accel="kvm", base_layer=[LZO])) == []
