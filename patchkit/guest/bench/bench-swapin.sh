#!/bin/sh
# patchkit bench: swap-in fault latency from the zram pool (no writeback).
# 64 MiB pushed out with MADV_PAGEOUT, swap cache evicted, every 8th page
# faulted in cold and timed (see pk-bench.c).
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
pk-bench latency -m 64 -k 8 >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench latency: pages read back differ from what was written" ;;
*) fail "pk-bench latency -m 64 -k 8: exit status $rc" ;;
esac
[ "$(figval lat.cold_faults)" -gt 0 ] || fail "no sampled fault was a major fault: nothing was read from swap"
