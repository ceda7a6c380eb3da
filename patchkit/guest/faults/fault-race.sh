#!/bin/sh
# Races, for a fixed time: swapoff/swapon cycles, zram reset attempts (each
# must be refused with EBUSY while zram0 is swap), idle writeback to a
# backing disk, and a hog swapping its pages in and out in a loop; at the
# end the hog verifies every page.  PK_RACE_SWAPOFF=0 / PK_RACE_WRITEBACK=0
# leave one of the racers out, PK_RACE_BACKING=0 also the backing disk (to
# find which one a failure needs).
. /patchkit/faults-lib.sh
disk=$(disk_by_serial pk-frace) || fail "no virtio disk with serial pk-frace: the host did not attach it"
if [ "${PK_RACE_BACKING:-1}" = 1 ]; then
	fault_zram_up "$disk"
else
	fault_zram_up
	PK_RACE_WRITEBACK=0
fi
seconds=${PK_RACE_SECONDS:-30}
fig race.seconds "$seconds"
mb=$(( $(meminfo_mb MemAvailable) / 4 ))
fhog race1 -m "$mb" -s 501 -o -L -H "$PK_WORK" &
pid1=$!
wait_for "$PK_WORK/ready" 300 $pid1
mkdir -p "$PK_WORK/h2"
fhog race2 -m "$mb" -s 502 -o -L -H "$PK_WORK/h2" &
pid2=$!
wait_for "$PK_WORK/h2/ready" 300 $pid2

stop=$PK_WORK/stop
(
	n=0 e=0
	while [ "${PK_RACE_WRITEBACK:-1}" = 1 ] && [ ! -e "$stop" ]; do
		echo all > $ZRAM/idle 2>/dev/null
		echo idle > $ZRAM/writeback 2>/dev/null || e=$((e + 1))
		n=$((n + 1))
	done
	echo "$n $e" > "$PK_WORK/wb.count"
) &
wbpid=$!

end=$(( $(cut -d. -f1 /proc/uptime) + seconds ))
cycles=0 offs=0 off_errors=0 resets=0 refused=0 accepted=0
while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
	if grep -q '^/dev/zram0 ' /proc/swaps; then
		resets=$((resets + 1))
		if err=$(echo 1 2>&1 > $ZRAM/reset); then
			accepted=$((accepted + 1))
			detail "zram reset accepted while /dev/zram0 was swap (cycle $cycles)"
			break
		fi
		case "$err" in
		*busy*|*Busy*) refused=$((refused + 1)) ;;
		*) detail "zram reset refused with an unexpected error: $err" ;;
		esac
		if [ "${PK_RACE_SWAPOFF:-1}" != 1 ]; then
			:
		elif swapoff /dev/zram0; then
			offs=$((offs + 1))
		else
			off_errors=$((off_errors + 1))
		fi
	fi
	swapon /dev/zram0 2>/dev/null
	cycles=$((cycles + 1))
	sleep 1
done
touch "$stop"
wait $wbpid
set -- $(cat "$PK_WORK/wb.count")
fig race.writeback_rounds "$1"
fig race.writeback_errors "$2"
fig race.cycles "$cycles"
fig race.swapoffs "$offs"
fig race.swapoff_errors "$off_errors"
fig race.reset_attempts "$resets"
fig race.reset_refused "$refused"
fig race.reset_accepted "$accepted"
fig race.bd_writes "$(zram_stat bd_stat 3)"
grep -q '^/dev/zram0 ' /proc/swaps || swapon /dev/zram0 || detail "swapon /dev/zram0 after the race failed"
touch "$PK_WORK/go" "$PK_WORK/h2/go"
wait $pid1
rc1=$?
wait $pid2
rc2=$?
fault_summary "$resets" 0 race1 race2
[ "$accepted" = 0 ] || fail "zram reset was accepted while /dev/zram0 was an active swap area"
[ "$refused" = "$resets" ] || fail "$refused of $resets reset attempts were refused with EBUSY"
[ "$offs" -gt 0 ] || [ "${PK_RACE_SWAPOFF:-1}" != 1 ] || fail "no swapoff completed in ${seconds}s"
[ $rc1 = 0 ] || fail "hog 1: pk-faulthog status $rc1"
[ $rc2 = 0 ] || fail "hog 2: pk-faulthog status $rc2"
fault_require_intact
[ "$(figval fault.sigbus)" = 0 ] || fail "$(figval fault.sigbus) page(s) raised SIGBUS during the race"
fault_zram_up
