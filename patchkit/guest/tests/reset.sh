#!/bin/sh
# zram reset returns the device to its unconfigured state; it is then
# reused with another algorithm and must swap correctly again.
. /patchkit/lib.sh
ensure_zram_swap
first=$(zram_current_alg)
hog -m 32 -p 1 -s 51 -o -x hog1 || exit 1
zram_down
[ "$(cat $ZRAM/disksize)" = 0 ] || fail "disksize is $(cat $ZRAM/disksize) after reset"
set -- $(cat $ZRAM/mm_stat)
[ "$1" = 0 ] || fail "orig_data_size is $1 after reset"
second=$(zram_pick_alg zstd lzo-rle lzo lz4)
[ "$second" != "$first" ] || detail "note: only one algorithm available, reusing $first"
zram_up "$(zram_default_size)" "$second"
fig reset.algorithm_before "$first"
fig reset.algorithm_after "$second"
hog -m 32 -p 1 -s 52 -o -x hog2 || exit 1
require_swapped_out hog2
