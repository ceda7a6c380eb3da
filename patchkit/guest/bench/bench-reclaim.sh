#!/bin/sh
# patchkit bench: swap-out pushed by reclaim alone.  Fills 5/4 of guest RAM
# with compressible non-zero pages on a fresh zram swap and no MADV_PAGEOUT,
# so kswapd and direct reclaim do the work; first a 32 MiB fill that fits in
# memory, timed the same way, gives the cost of filling a page without
# reclaim, which the host takes out of the per-page figure.
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
fig bench.mem_total_mb "$(meminfo_mb MemTotal)"
mb=$(( $(meminfo_mb MemTotal) * 5 / 4 ))
pk-bench swapout -m "$mb" -f 32 >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench swapout: pages read back differ from what was written" ;;
*) fail "pk-bench swapout -m $mb -f 32: exit status $rc" ;;
esac
[ "$(figval swapout.fill_cal_pswpout)" = 0 ] || fail "the calibration fill swapped: it must fit in memory"
