#!/bin/sh
# Several block drivers provide their own swap I/O at once.  While zram is
# swapped on (and does its I/O through its swap_ops), the test module
# pk_swapdev (patchkit/guest/kmod, a RAM disk whose ->swap_activate()
# installs its own swap_ops and context) is loaded and swapped on too.
# zram0 is small and has the higher priority, so a hog fills it and spills
# over to /dev/pkswap0.  Checks: the module's methods wrote and read the
# hog's pages (verified) with the context they installed; no bio reached
# either disk after swapon; then a second hog is killed while its pages sit
# in pkswap0, and process exit must free them through the module's
# slot_free_notify; rmmod is refused while the area is active and works
# after swapoff, and the module loads again.
. /patchkit/lib.sh
require_zram
require_bio_meter
ko=$(find /lib/modules -name pk_swapdev.ko | head -n 1)
[ -n "$ko" ] || skip "no pk_swapdev.ko in the image: the tree has no ->swap_activate() in block_device_operations (zram-swap-ops v2), or it was built without --extmod patchkit/guest/kmod/pk_swapdev"
P=/sys/module/pk_swapdev/parameters
pk() { cat $P/$1; }
zram_up 24 "$(zram_pick_alg lz4 lzo-rle lzo zstd)"
insmod "$ko" mb=64 || fail "insmod pk_swapdev failed while zram was swapped on"
mkswap /dev/pkswap0 > /dev/null || fail "mkswap /dev/pkswap0 failed"
swapon /dev/pkswap0 || fail "swapon /dev/pkswap0 failed"
[ "$(pk activations)" = 1 ] || fail "pk_swapdev's ->swap_activate() ran $(pk activations) times at one swapon"
bios0=$(pk bios)
zw0=$(blk_stat zram0 7)
bio_meter_on zram0
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
[ "$mb" -gt 56 ] && mb=56
hog -m "$mb" -p 2 -k scr -s 74 -o
rc=$?
zbytes=$(bio_meter_bytes)
bio_meter_off zram0
for k in bios write_submits write_folios write_pages read_submits read_folios read_pages large_folios notify bad_context; do
	fig "pk_swapdev.$k" "$(pk $k)"
done
fig swap_ops_driver.zram_bio_bytes "$zbytes"
fig swap_ops_driver.zram_write_sectors $(( $(blk_stat zram0 7) - zw0 ))
[ $rc = 0 ] || exit 1
require_swapped_out hog
[ "$(pk write_pages)" -gt 0 ] || fail "no swap write reached pk_swapdev's submit_write while zram was swapped on"
[ "$(pk read_pages)" -gt 0 ] || fail "no swap read reached pk_swapdev's submit_read"
[ "$(pk bios)" = "$bios0" ] || fail "$(( $(pk bios) - bios0 )) bios reached /dev/pkswap0 after swapon: its swap I/O bypassed its swap_ops"
[ "$(pk bad_context)" = 0 ] || fail "pk_swapdev's methods saw another private_data than the one its ->swap_activate() installed"
[ $(( $(blk_stat zram0 7) - zw0 )) -gt 0 ] || fail "nothing was written to zram0: the test did not have both drivers swapping"
[ "$zbytes" = 0 ] || fail "$zbytes bytes of bios reached zram0 while both drivers swapped"

# Process exit frees swap slots through slot_free_notify.
mkdir -p "$PK_WORK/exit"
pk-hog -m 40 -p 1 -k scr -s 75 -o -H "$PK_WORK/exit" -q -x exithog > /dev/null 2>&1 &
pid=$!
wait_for "$PK_WORK/exit/ready" 300 $pid
used=$(awk '$1 == "/dev/pkswap0" { print $4 }' /proc/swaps)
n0=$(pk notify)
for d in /proc/[0-9]*; do
	[ "$(cat "$d/comm" 2>/dev/null)" = pk-hog ] && kill -9 "${d##*/}" 2>/dev/null
done
wait $pid
n1=$(pk notify)
fig swap_ops_driver.exit_used_kb "$used"
fig swap_ops_driver.exit_notify $((n1 - n0))
fig swap_ops_driver.notify_atomic "$(pk notify_atomic)"
[ "$used" -gt 0 ] || fail "the held hog left nothing in /dev/pkswap0: process exit was not tested"
[ $((n1 - n0)) -gt 0 ] || fail "killing a process with $used kB in /dev/pkswap0 called slot_free_notify 0 times"

rmmod pk_swapdev 2>/dev/null && fail "rmmod pk_swapdev succeeded while /dev/pkswap0 was an active swap area"
swapoff /dev/pkswap0 || fail "swapoff /dev/pkswap0 failed"
# Kernels before 6.14 free slots through a per-CPU swap slot cache, which
# hands them to swap_range_free() in batches under spin_lock_irq() when it
# is full or drained (swapoff): slot_free_notify must have run with
# interrupts disabled there.  (Later kernels have no slot cache.)
irqsoff=$(pk notify_irqsoff)
fig swap_ops_driver.notify_irqsoff "$irqsoff"
kv=$(uname -r)
kmaj=${kv%%.*}
kmin=${kv#*.}
kmin=${kmin%%[!0-9]*}
if [ "$kmaj" -lt 6 ] || { [ "$kmaj" = 6 ] && [ "$kmin" -lt 14 ]; }; then
	[ "$irqsoff" -gt 0 ] || fail "on $kv slot_free_notify never ran with interrupts disabled: the swap slot cache did not free a batch (full or drained at swapoff)"
fi
rmmod pk_swapdev || fail "rmmod pk_swapdev failed after swapoff"
insmod "$ko" mb=8 || fail "pk_swapdev did not load again after its unload"
rmmod pk_swapdev || fail "second rmmod pk_swapdev failed"
fig swap_ops_driver.reloaded 1
# zram0 is only 24 MB here: leave no such swap behind for a later test.
zram_down
