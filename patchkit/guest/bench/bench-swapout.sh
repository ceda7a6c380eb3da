#!/bin/sh
# patchkit bench: swap-out throughput through zram.  Fills 5/4 of guest RAM
# with compressible non-zero pages on a fresh zram swap, pushing every 4 MiB
# out with MADV_PAGEOUT as soon as it is written (left to reclaim alone, a
# 256 MiB guest filling that fast was OOM-killed in some boots); pk-bench
# times the fill and reads pswpout, /proc/stat and the swap I/O counters.
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
fig bench.mem_total_mb "$(meminfo_mb MemTotal)"
mb=$(( $(meminfo_mb MemTotal) * 5 / 4 ))
pk-bench swapout -m "$mb" -c 4 >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench swapout: pages read back differ from what was written" ;;
*) fail "pk-bench swapout -m $mb -c 4: exit status $rc" ;;
esac
