#!/bin/sh
# A swap file on ext2 on a virtio disk (the host made the filesystem), as
# the only swap: pages forced out with MADV_PAGEOUT, read back, verified.
. /patchkit/lib.sh
disk=$(disk_by_serial pk-swapfs) || fail "no virtio disk with serial pk-swapfs: the host did not attach it"
mkdir -p /mnt/swapfs
mount -t ext2 "$disk" /mnt/swapfs || fail "mount -t ext2 $disk failed"
file=/mnt/swapfs/swapfile
size_mb=$(( $(meminfo_mb MemTotal) / 2 ))
dd if=/dev/zero of=$file bs=1M count=$size_mb 2>/dev/null || { umount /mnt/swapfs; fail "writing the $size_mb MiB swap file failed"; }
chmod 600 $file
mkswap $file > /dev/null || { umount /mnt/swapfs; fail "mkswap $file failed"; }
swap_off_all
swapon $file || { umount /mnt/swapfs; fail "swapon $file failed"; }
fig swapfile.size_mb "$size_mb"
hog -m $(( size_mb / 2 )) -p 2 -s 61 -o
rc=$?
swapoff $file || fail "swapoff $file failed"
umount /mnt/swapfs || fail "umount /mnt/swapfs failed"
[ $rc = 0 ] || exit 1
require_swapped_out hog
require_swapped_in hog
