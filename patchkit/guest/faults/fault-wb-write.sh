#!/bin/sh
# Backing device write errors: zram writeback onto a virtio disk whose
# requests fail (fail_make_request on that disk).  A failed writeback must
# leave each slot in the zspool: nothing lands on the disk, and every page
# reads back intact from zram.
. /patchkit/faults-lib.sh
require_fault_injection fail_make_request
disk=$(disk_by_serial pk-fwbw) || fail "no virtio disk with serial pk-fwbw: the host did not attach it"
fault_zram_up "$disk"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
fhog wbw -m "$mb" -s 201 -o -W -H "$PK_WORK" &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
echo all > $ZRAM/idle || { touch "$PK_WORK/go"; wait $pid; fail "echo all > $ZRAM/idle failed"; }
times=1000000
echo 1 > "/sys/block/${disk#/dev/}/make-it-fail" || fail "cannot set make-it-fail on $disk"
fail_arm fail_make_request 100 $times
echo idle > $ZRAM/writeback
wb_rc=$?
injected=$(fail_disarm fail_make_request $times)
echo 0 > "/sys/block/${disk#/dev/}/make-it-fail"
bd_count=$(zram_stat bd_stat 1)
bd_writes=$(zram_stat bd_stat 3)
fig wbwrite.writeback_status "$wb_rc"
fig wbwrite.bd_count "$bd_count"
fig wbwrite.bd_writes "$bd_writes"
touch "$PK_WORK/go"
wait $pid
rc=$?
fault_summary "$injected" 0 wbw
[ "$injected" -gt 0 ] || fail "no write to $disk was failed: writeback never reached the disk"
[ "$bd_count" = 0 ] || fail "bd_stat counts $bd_count page(s) on the backing disk after every write to it failed"
[ $rc = 0 ] || fail "pk-faulthog status $rc"
[ "$(figval wbw.sigbus_pages)" = 0 ] || fail "$(figval wbw.sigbus_pages) page(s) raised SIGBUS: a failed writeback lost the zspool copy"
fault_require_intact
