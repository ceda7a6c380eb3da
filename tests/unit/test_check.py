from pathlib import Path

from patchkit.check import checkpatch_argv, parse_checkpatch


def test_checkpatch_argv_is_b4s_per_patch_invocation_plus_strict():
    assert checkpatch_argv(Path("/k"), Path("/o/0001-x.patch")) == [
        "/k/scripts/checkpatch.pl", "-q", "--terse", "--no-summary", "--mailback",
        "--showfile", "--strict", "/o/0001-x.patch"]
    assert "--strict" not in checkpatch_argv(Path("/k"), Path("p"), strict=False)


def test_parse_checkpatch_counts_each_kind():
    out = (
        "mm/page_io.c:10: ERROR: trailing whitespace\n"
        "mm/page_io.c:12: WARNING: line length of 101 exceeds 100 columns\n"
        "mm/page_io.c:14: CHECK: Alignment should match open parenthesis\n"
        "mm/page_io.c:15: CHECK: Blank lines aren't necessary\n"
    )
    assert parse_checkpatch(out) == {"ERROR": 1, "WARNING": 1, "CHECK": 2}
    assert parse_checkpatch("") == {"ERROR": 0, "WARNING": 0, "CHECK": 0}
