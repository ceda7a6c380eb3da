"""Anchor placement: every kind and op, misses and ambiguity, C-aware scanning."""

from pathlib import Path

import pytest

from patchkit import anchors
from patchkit.anchors import AnchorError, Region

MINI = Path(__file__).resolve().parents[2] / "kernel-fixtures" / "mini" / "zram-6.12"
ZRAM = (MINI / "drivers/block/zram/zram_drv.c").read_text()
PAGE_IO = (MINI / "mm/page_io.c").read_text()
SWAP_H = (MINI / "include/linux/swap.h").read_text()
BLKDEV = (MINI / "include/linux/blkdev.h").read_text()


def lines(text, region):
    return "".join(text.splitlines(keepends=True)[region.start:region.end])


def test_function_anchor_spans_signature_to_closing_brace():
    r = anchors.locate(ZRAM, {"function": "zram_read_from_zspool"})
    got = lines(ZRAM, r)
    assert got.startswith("static int zram_read_from_zspool(struct zram *zram, struct page *page,\n")
    assert got.endswith("\treturn copy_from_pool(zram, page, index);\n}\n")


def test_function_anchor_ignores_calls_and_prototypes():
    # zram_slot_lock is also called in zram_slot_free_notify; only the definition counts
    r = anchors.locate(ZRAM, {"function": "zram_slot_trylock"})
    assert lines(ZRAM, r).splitlines()[0] == "static int zram_slot_trylock(struct zram *zram, u32 index)"
    text = "int foo(int a);\n\nint foo(int a)\n{\n\treturn a;\n}\n"
    assert anchors.locate(text, {"function": "foo"}) == Region(2, 6)


def test_function_anchor_takes_return_type_line_above():
    text = "static int\nfoo(void)\n{\n\treturn 0;\n}\n"
    assert anchors.locate(text, {"function": "foo"}) == Region(0, 5)


def test_braces_in_strings_and_comments_do_not_end_a_function():
    r = anchors.locate(PAGE_IO, {"function": "sio_write_complete"})
    body = lines(PAGE_IO, r)
    assert body.endswith("\tmempool_free(sio, sio_pool);\n}\n")


def test_struct_anchor_spans_the_definition():
    r = anchors.locate(SWAP_H, {"struct": "swap_info_struct"})
    got = lines(SWAP_H, r)
    assert got.startswith("struct swap_info_struct {\n")
    assert got.endswith("\t};\n};\n")


def test_member_anchor_finds_one_line_and_multiline_members():
    r = anchors.locate(SWAP_H, {"member": "bdev", "struct": "swap_info_struct"})
    assert lines(SWAP_H, r).startswith("\tstruct block_device *bdev;")
    # a member whose trailing comment runs over several lines is one region
    r = anchors.locate(SWAP_H, {"member": "lock", "struct": "swap_info_struct"})
    assert r.end - r.start == 4
    # a function pointer member declared over two lines
    r = anchors.locate(BLKDEV, {"member": "ioctl", "struct": "block_device_operations"})
    assert lines(BLKDEV, r) == ("\tint (*ioctl)(struct block_device *bdev, blk_mode_t mode,\n"
                                "\t\t\tunsigned cmd, unsigned long arg);\n")
    r = anchors.locate(BLKDEV, {"member": "swap_slot_free_notify",
                                "struct": "block_device_operations"})
    assert "swap_slot_free_notify) (struct block_device *" in lines(BLKDEV, r)


def test_member_inside_anonymous_union():
    r = anchors.locate(SWAP_H, {"member": "next_slot", "struct": "swap_info_struct"})
    assert lines(SWAP_H, r) == "\t\tunsigned int next_slot;\n"


def test_text_anchor_matches_whole_lines():
    r = anchors.locate(ZRAM, {"text": "\tdown_read(&zram->init_lock);\n\tval = init_done(zram);\n"})
    assert lines(ZRAM, r) == "\tdown_read(&zram->init_lock);\n\tval = init_done(zram);\n"
    # a part of a line is not a match
    with pytest.raises(AnchorError, match="matched nothing"):
        anchors.locate(ZRAM, {"text": "down_read(&zram->init_lock);"})


def test_regex_anchor_is_per_line():
    r = anchors.locate(ZRAM, {"regex": r"^module_init\("})
    assert lines(ZRAM, r) == "module_init(zram_init);\n"


def test_within_function_scopes_the_search():
    text = ("void a(void)\n{\n\tlock();\n}\n\nvoid b(void)\n{\n\tlock();\n}\n")
    with pytest.raises(AnchorError, match="matched 2 times"):
        anchors.locate(text, {"regex": "lock"})
    assert anchors.locate(text, {"regex": "lock", "within": {"function": "b"}}) == Region(7, 8)


def test_within_struct_scopes_the_search():
    # three 'unsigned int' lines in the struct: ambiguous even when scoped
    with pytest.raises(AnchorError, match="matched 3 times"):
        anchors.locate(SWAP_H, {"regex": r"unsigned int", "within": {"struct": "swap_info_struct"}})
    r = anchors.locate(SWAP_H, {"regex": r"\bpages;", "within": {"struct": "swap_info_struct"}})
    assert "total of usable pages" in lines(SWAP_H, r)


def test_missing_anchor_says_what_was_looked_for():
    with pytest.raises(AnchorError) as exc:
        anchors.locate(ZRAM, {"function": "zram_no_such_function"})
    assert exc.value.msg == "function 'zram_no_such_function' matched nothing"
    assert exc.value.matches == []


def test_ambiguous_anchor_lists_the_lines():
    with pytest.raises(AnchorError) as exc:
        anchors.locate(ZRAM, {"regex": r"atomic64_inc\(&zram->stats"})
    assert exc.value.matches == [65, 67]
    assert "matched 2 times (at lines 65, 67)" in exc.value.msg


def test_anchor_kind_errors():
    with pytest.raises(AnchorError, match="no kind"):
        anchors.kind_of({"within": {"function": "x"}})
    with pytest.raises(AnchorError, match="several kinds"):
        anchors.kind_of({"text": "a", "regex": "b"})
    with pytest.raises(AnchorError, match="needs struct"):
        anchors.kind_of({"member": "x"})
    with pytest.raises(AnchorError, match="unknown anchor key"):
        anchors.kind_of({"function": "x", "struc": "y"})
    with pytest.raises(AnchorError, match="within must be"):
        anchors.kind_of({"regex": "x", "within": {"file": "y"}})


@pytest.mark.parametrize("op, expected", [
    ("insert_before", "a\nNEW\nb\nc\n"),
    ("insert_after", "a\nb\nNEW\nc\n"),
    ("replace", "a\nNEW\nc\n"),
    ("delete", "a\nc\n"),
])
def test_splice_every_op(op, expected):
    text = "a\nb\nc\n"
    region = anchors.locate(text, {"text": "b"})
    assert anchors.splice(text, op, region, "" if op == "delete" else "NEW") == expected


def test_splice_create_and_eof_without_newline():
    assert anchors.splice("", "create", None, "x\n") == "x\n"
    text = "a\nb"
    assert anchors.splice(text, "insert_after", Region(1, 2), "c") == "a\nb\nc"
    assert anchors.splice(text, "replace", Region(1, 2), "B") == "a\nB"


def test_mask_blanks_comments_and_strings_only():
    src = 'a = "{"; /* } */ b = \'}\'; // {\nc;\n'
    m = anchors.mask(src)
    assert len(m) == len(src)
    assert "{" not in m and "}" not in m
    assert m.splitlines()[1] == "c;"
