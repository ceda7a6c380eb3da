#!/bin/sh
# patchkit bench: swap-in fault latency with zram writeback on.  The same as
# bench-swapin, but every slot is marked idle and written back to a virtio
# disk (serial pk-bench-wb) before the faults, so they read that disk.
# 32 MiB and every 4th page (2,048 samples as in bench-swapin): zram writes
# back one page per synchronous bio, the longest part of a round.
. /patchkit/lib.sh
require_zram
[ -e $ZRAM/backing_dev ] || skip "no $ZRAM/backing_dev: CONFIG_ZRAM_WRITEBACK is off"
disk=$(disk_by_serial pk-bench-wb) || fail "no virtio disk with serial pk-bench-wb: the host did not attach it"
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg" "$disk"
fig bench.algorithm "$alg"
pk-bench latency -m 32 -k 4 -w -d "${disk#/dev/}" >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench latency -w: pages read back differ from what was written" ;;
*) fail "pk-bench latency -m 32 -k 4 -w: exit status $rc" ;;
esac
[ "$(figval lat.bd_writes)" -gt 0 ] || fail "bd_stat shows no page written back"
# Leave a zram swap without backing device for the tests after this one.
zram_up "$(zram_default_size)" "$alg"
