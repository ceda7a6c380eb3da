#!/bin/sh
# patchkit bench: swap-in fault latency with zram writeback on.  The same as
# bench-swapin, but every slot is marked idle and written back to a backing
# device before the faults, so they read that device.
# 32 MiB and every 4th page (2,048 samples as in bench-swapin): zram writes
# back one page per synchronous bio, the longest part of a round.
#
# The backing device: the virtio disk with serial pk-bench-wb; under
# patchkit bench --clock icount (patchkit.clock=icount on the command line) a
# second zram device instead, so that no read waits for the host: a guest
# that idles while QEMU does the I/O jumps its clock ahead by however long
# the host took, and instruction counts stop repeating.
. /patchkit/lib.sh
require_zram
[ -e $ZRAM/backing_dev ] || skip "no $ZRAM/backing_dev: CONFIG_ZRAM_WRITEBACK is off"
alg=$(zram_pick_alg lzo-rle lzo lz4)
if grep -qw patchkit.clock=icount /proc/cmdline; then
	if [ ! -e /sys/block/zram1 ]; then
		[ -e /sys/class/zram-control/hot_add ] || fail "no /sys/class/zram-control/hot_add for a second zram"
		dev=$(cat /sys/class/zram-control/hot_add) || fail "zram hot_add failed"
		[ "$dev" = 1 ] || fail "zram hot_add gave zram$dev, not zram1"
	fi
	echo 1 > /sys/block/zram1/reset
	echo "$alg" > /sys/block/zram1/comp_algorithm || fail "zram1 comp_algorithm $alg"
	echo 64M > /sys/block/zram1/disksize || fail "zram1 disksize"
	disk=/dev/zram1
	fig bench.backing zram1
else
	disk=$(disk_by_serial pk-bench-wb) || fail "no virtio disk with serial pk-bench-wb: the host did not attach it"
	fig bench.backing virtio
fi
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
