#!/bin/sh
# swapoff while the hog is live and verifying in a loop; then verify again.
. /patchkit/lib.sh
ensure_zram_swap
mb=$(( $(meminfo_mb MemAvailable) / 2 ))
hog -m "$mb" -p 2 -s 31 -o -H "$PK_WORK" &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
used=$(awk '$1 == "/dev/zram0" { print $4 }' /proc/swaps)
fig swapoff.swap_used_kb_before "$used"
[ "${used:-0}" -gt 0 ] || { touch "$PK_WORK/go"; wait $pid; fail "nothing was in swap when swapoff ran"; }
t0=$(cut -d' ' -f1 /proc/uptime)
swapoff /dev/zram0
rc=$?
fig swapoff.seconds "$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }')"
touch "$PK_WORK/go"
wait $pid
hog_rc=$?
[ $rc = 0 ] || fail "swapoff /dev/zram0 failed (status $rc) with $used KiB in use"
! grep -q '^/dev/zram0 ' /proc/swaps || fail "/dev/zram0 still listed in /proc/swaps after swapoff"
[ $hog_rc = 0 ] || fail "pk-hog status $hog_rc after swapoff"
[ "$(figval hog.loop_passes)" -gt 0 ] || detail "note: the hog finished no verify pass while swapoff ran"
