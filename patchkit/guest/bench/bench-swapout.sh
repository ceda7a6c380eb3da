#!/bin/sh
# patchkit bench: swap-out throughput through zram.  Fills 5/4 of guest RAM
# with compressible non-zero pages on a fresh zram swap; pk-bench times the
# fill and reads pswpout, /proc/stat and the swap I/O counters around it.
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
fig bench.mem_total_mb "$(meminfo_mb MemTotal)"
mb=$(( $(meminfo_mb MemTotal) * 5 / 4 ))
pk-bench swapout -m "$mb" >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench swapout: pages read back differ from what was written" ;;
*) fail "pk-bench swapout -m $mb: exit status $rc" ;;
esac
