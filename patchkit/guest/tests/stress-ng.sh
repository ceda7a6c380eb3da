#!/bin/sh
# stress-ng page-swap and vm stressors with --verify over zram swap.
. /patchkit/lib.sh
ensure_zram_swap
vm_mb=$(( $(meminfo_mb MemAvailable) / 3 ))
fig stress.vm_mb_per_worker "$vm_mb"
cd /tmp || fail "no /tmp"
stress-ng --pageswap 1 --vm 2 --vm-bytes "${vm_mb}M" --verify \
	--timeout 15s --metrics-brief --temp-path /tmp > "$PK_WORK/stress.log" 2>&1
rc=$?
cat "$PK_WORK/stress.log"
fig stress.exit_status "$rc"
# stress-ng's exit status 4: a stressor is not implemented on this system.
[ $rc = 4 ] && skip "stress-ng: a stressor is not implemented here: $(grep -i 'not implemented' "$PK_WORK/stress.log" | head -n 1)"
grep -qi 'fail' "$PK_WORK/stress.log" && fail "stress-ng reported: $(grep -i fail "$PK_WORK/stress.log" | head -n 3 | tr '\n' ';')"
[ $rc = 0 ] || fail "stress-ng exited with status $rc"
