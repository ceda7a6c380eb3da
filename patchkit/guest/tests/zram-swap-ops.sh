#!/bin/sh
# zram does its swap I/O through its own swap_ops, not through bios, and
# still accounts it in /sys/block/zram0/stat as zram.rst documents it: one
# request per batch, of the batch's size.  A hog is pushed out with
# MADV_PAGEOUT and read back (contents verified) while a bio meter
# (fail_make_request with a budget it never uses up) counts every byte of
# bio submitted to zram0: with the series it must stay 0.  Meanwhile the
# stat deltas must equal what the swap core did: write sectors = 8 x
# pswpout, read sectors = 8 x pswpin, and where the kernel counts batches
# (nrswpout/nrswpin, mainline 7.3), write/read requests = batches.  When
# the hog exits, its slots are freed through zram's slot_free_notify
# (io_stat notify_free grows).
. /patchkit/lib.sh
require_zram
require_bio_meter
zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)"
[ -n "$(cat $ZRAM/backing_dev 2>/dev/null | grep -v none)" ] && fail "zram0 has a backing device after a fresh setup"
sync
w_ios0=$(blk_stat zram0 5) w_sec0=$(blk_stat zram0 7) r_ios0=$(blk_stat zram0 1) r_sec0=$(blk_stat zram0 3)
out0=$(vmstat pswpout) in0=$(vmstat pswpin) nout0=$(vmstat nrswpout) nin0=$(vmstat nrswpin)
notify0=$(zram_io_stat 4)
bio_meter_on zram0
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
hog -m "$mb" -p 2 -s 71 -o
rc=$?
bytes=$(bio_meter_bytes)
bio_meter_off zram0
w_ios=$(( $(blk_stat zram0 5) - w_ios0 )) w_sec=$(( $(blk_stat zram0 7) - w_sec0 ))
r_ios=$(( $(blk_stat zram0 1) - r_ios0 )) r_sec=$(( $(blk_stat zram0 3) - r_sec0 ))
out=$(( $(vmstat pswpout) - out0 )) in=$(( $(vmstat pswpin) - in0 ))
notify=$(( $(zram_io_stat 4) - notify0 ))
fig zram_swap_ops.bio_bytes "$bytes"
fig zram_swap_ops.pswpout "$out"
fig zram_swap_ops.pswpin "$in"
fig zram_swap_ops.stat_write_ios "$w_ios"
fig zram_swap_ops.stat_write_sectors "$w_sec"
fig zram_swap_ops.stat_read_ios "$r_ios"
fig zram_swap_ops.stat_read_sectors "$r_sec"
fig zram_swap_ops.notify_free "$notify"
[ $rc = 0 ] || exit 1
require_swapped_out hog
require_swapped_in hog
[ "$bytes" = 0 ] || fail "$bytes bytes of bios reached zram0 while it swapped $out pages out and $in in: swap I/O did not go through zram's swap_ops"
[ "$w_sec" = $((out * 8)) ] || fail "zram0 stat: $w_sec write sectors for $out pages swapped out (zram.rst: each batch counts as a write of its size)"
[ "$r_sec" = $((in * 8)) ] || fail "zram0 stat: $r_sec read sectors for $in pages swapped in (zram.rst: each batch counts as a read of its size)"
[ "$(blk_stat zram0 9)" = 0 ] || fail "zram0 stat: in_flight is $(blk_stat zram0 9) with no I/O running"
if [ -n "$nout0" ]; then
	nout=$(( $(vmstat nrswpout) - nout0 )) nin=$(( $(vmstat nrswpin) - nin0 ))
	fig zram_swap_ops.nrswpout "$nout"
	fig zram_swap_ops.nrswpin "$nin"
	[ "$w_ios" = "$nout" ] || fail "zram0 stat: $w_ios write requests for $nout swap write batches"
	[ "$r_ios" = "$nin" ] || fail "zram0 stat: $r_ios read requests for $nin swap read batches"
else
	detail "no nrswpout/nrswpin in /proc/vmstat: request counts not compared with batches"
fi
[ "$notify" -gt 0 ] || fail "io_stat notify_free did not grow when the hog freed its swap: slot_free_notify did not run"

# Writeback configured: zram's reads are the exception, they go through
# swap_bdev_submit_read() as bios (written-back slots need one), while its
# writes stay direct.  The meter must see exactly the bytes swapped in, and
# this also shows that it does catch bios submitted to zram0.
if [ ! -e $ZRAM/backing_dev ]; then
	detail "no $ZRAM/backing_dev (CONFIG_ZRAM_WRITEBACK off): the writeback read path was not checked"
	exit 0
fi
disk=$(disk_by_serial pk-sowb) || fail "no virtio disk with serial pk-sowb: the host did not attach it"
zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)" "$disk"
out0=$(vmstat pswpout) in0=$(vmstat pswpin)
bio_meter_on zram0
hog -m "$mb" -p 2 -s 72 -o -x wbhog
rc=$?
bytes=$(bio_meter_bytes)
bio_meter_off zram0
out=$(( $(vmstat pswpout) - out0 )) in=$(( $(vmstat pswpin) - in0 ))
zram_down
fig zram_swap_ops.wb_bio_bytes "$bytes"
fig zram_swap_ops.wb_pswpout "$out"
fig zram_swap_ops.wb_pswpin "$in"
[ $rc = 0 ] || exit 1
require_swapped_out wbhog
require_swapped_in wbhog
[ "$bytes" = $((in * 4096)) ] ||
	fail "zram0 with a backing device got $bytes bytes of bios for $in pages swapped in and $out out: expected exactly the reads as bios, the writes direct"
