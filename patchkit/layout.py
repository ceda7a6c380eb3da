"""Where a kernel's hot functions sit relative to 4 KiB pages (System.map).

Under TCG, QEMU jumps straight from one translated block to the next only
when both lie on the same guest page; a jump onto another page goes through
a lookup every time.  A hot loop that straddles a page boundary therefore
runs markedly slower, whatever its code: two builds of one commit that
differ only in where the linker put lzo1x_1_do_compress (page offset 0xf30
vs 0x310) swapped out to zram at 57 and 79 MB/s.  The bench reports such
straddles so that a figure that measures the layout is not read as the
cost of a patch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from patchkit import paths

PAGE = 4096
TEXT_TYPES = set("tTwW")

# The kernel functions that dominate the bench workloads under TCG
# (`patchkit validate --profile --tests bench-swapout`: the compressor alone
# takes a third of the kernel's ticks), matched on the name before any
# compiler suffix such as ".constprop.0".  The bench compresses with lzo-rle;
# LZ4_compress_fast_extState (3.9 KB, it nearly always straddles) is not hot.
HOT_FUNCTIONS = (
    "lzo1x_1_do_compress", "lzo1x_decompress_safe", "lzogeneric1x_1_compress",
    "memcpy_orig", "memset_orig", "clear_page_erms", "clear_page_rep", "clear_page_orig", "copy_page",
)


@dataclass(frozen=True)
class Straddle:
    function: str
    address: int
    size: int

    @property
    def page_offset(self) -> int:
        return self.address % PAGE


def read_map(text: str) -> list[tuple[int, str]]:
    """(address, name) of the text symbols of a System.map, by address."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in TEXT_TYPES:
            try:
                out.append((int(parts[0], 16), parts[2]))
            except ValueError:
                continue
    return sorted(out)


def straddles(symbols: list[tuple[int, str]], hot=HOT_FUNCTIONS) -> list[Straddle]:
    """The hot functions whose code (up to the next symbol at a higher
    address) crosses a page boundary."""
    found = []
    for i, (addr, name) in enumerate(symbols):
        if name.split(".")[0] not in hot:
            continue
        end = next((a for a, _ in itertools.islice(symbols, i + 1, None) if a > addr), None)
        if end is None:
            continue
        if addr // PAGE != (end - 1) // PAGE:
            found.append(Straddle(name, addr, end - addr))
    return found


def system_map_for(kernel: Path) -> Path | None:
    """The System.map of a bzImage: in its build dir, or saved beside it."""
    build_dir = paths.build_dir_of(kernel)
    for cand in ([build_dir / "System.map"] if build_dir else []) + [Path(kernel).parent / "System.map"]:
        if cand.is_file():
            return cand
    return None


def kernel_straddles(kernel: Path) -> list[Straddle] | None:
    """Straddling hot functions of a built kernel; None when no System.map is found."""
    smap = system_map_for(kernel)
    if smap is None:
        return None
    return straddles(read_map(smap.read_text(errors="replace")))
