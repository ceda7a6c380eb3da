#!/bin/sh
# zram0 sized at twice guest RAM with a fast algorithm, made the only swap.
. /patchkit/lib.sh
require_zram
size=$(zram_default_size)
alg=$(zram_pick_alg lz4 lzo-rle lzo zstd)
zram_up "$size" "$alg"
[ "$(zram_current_alg)" = "$alg" ] || fail "comp_algorithm reads $(zram_current_alg), wrote $alg"
[ "$(cat $ZRAM/disksize)" = $((size * 1024 * 1024)) ] || fail "disksize reads $(cat $ZRAM/disksize), wrote ${size}M"
fig zram.disksize_mb "$size"
fig zram.algorithm "$alg"
fig zram.algorithms_available "$(tr -d '[]' < $ZRAM/comp_algorithm | tr ' ' '/')"
fig swap.size_kb "$(awk '$1 == "/dev/zram0" { print $3 }' /proc/swaps)"
fig mem.total_mb "$(meminfo_mb MemTotal)"
