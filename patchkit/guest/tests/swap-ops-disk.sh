#!/bin/sh
# A block device whose driver provides no ->swap_activate() keeps the
# generic swap_bdev_ops: its swap I/O is bios.  A plain virtio disk is the
# only swap; a hog is pushed out and read back (verified) while the bio
# meter counts the bytes of bios the disk gets: at least everything that
# was swapped out and in.
. /patchkit/lib.sh
require_bio_meter
disk=$(disk_by_serial pk-sodisk) || fail "no virtio disk with serial pk-sodisk: the host did not attach it"
name=${disk#/dev/}
swap_off_all
mkswap "$disk" > /dev/null || fail "mkswap $disk failed"
swapon "$disk" || fail "swapon $disk failed"
out0=$(vmstat pswpout) in0=$(vmstat pswpin)
bio_meter_on "$name"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
[ "$mb" -gt 100 ] && mb=100
hog -m "$mb" -p 2 -s 73 -o
rc=$?
# The page counts first, the meter a second later: swap I/O that is still
# being submitted when the hog has gone (a reclaim pass finishing its
# batch) then only adds bytes, and the check below stays a lower bound.
# (Meter first, counts later undercounted by 33 pages once on 7.3 debug.)
out=$(( $(vmstat pswpout) - out0 )) in=$(( $(vmstat pswpin) - in0 ))
sleep 1
bytes=$(bio_meter_bytes)
bio_meter_off "$name"
swapoff "$disk" || fail "swapoff $disk failed"
fig swap_ops_disk.bio_bytes "$bytes"
fig swap_ops_disk.pswpout "$out"
fig swap_ops_disk.pswpin "$in"
[ $rc = 0 ] || exit 1
require_swapped_out hog
require_swapped_in hog
[ "$bytes" -ge $(( (out + in) * 4096 )) ] ||
	fail "$name got $bytes bytes of bios for $out pages swapped out and $in in: its swap I/O did not all go through swap_bdev_ops"
