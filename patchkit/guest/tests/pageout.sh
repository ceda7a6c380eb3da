#!/bin/sh
# MADV_PAGEOUT pushes a filled region to swap; every page is then faulted
# back in and verified.
. /patchkit/lib.sh
ensure_zram_swap
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
hog -m "$mb" -p 2 -s 21 -o || exit 1
[ "$(figval hog.pageout_errors)" = 0 ] || fail "madvise(MADV_PAGEOUT) failed in $(figval hog.pageout_errors) process(es)"
out=$(figval hog.pswpout_fill)
nonzero=$(figval hog.nonzero_pages)
fig pageout.ratio_pct $(( out * 100 / (nonzero > 0 ? nonzero : 1) ))
[ "$out" -ge $((nonzero / 2)) ] || fail "MADV_PAGEOUT swapped out $out pages, less than half of the $nonzero non-zero pages"
require_swapped_in hog
