#!/bin/sh
# A plain virtio disk as the only swap (a block device that is not zram).
. /patchkit/lib.sh
disk=$(disk_by_serial pk-swapdev) || fail "no virtio disk with serial pk-swapdev: the host did not attach it"
mkswap "$disk" > /dev/null || fail "mkswap $disk failed"
swap_off_all
swapon "$disk" || fail "swapon $disk failed"
swap_io_reset
fig swapdisk.size_kb "$(awk -v d="$disk" '$1 == d { print $3 }' /proc/swaps)"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
hog -m "$mb" -p 2 -s 71 -o
rc=$?
swap_io_figs swapio
swapoff "$disk" || fail "swapoff $disk failed"
[ $rc = 0 ] || exit 1
require_swapped_out hog
require_swapped_in hog
