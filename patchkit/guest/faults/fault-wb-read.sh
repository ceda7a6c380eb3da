#!/bin/sh
# Backing device read errors: pages written back to a virtio disk, then the
# disk's reads fail (fail_make_request, a fixed number of times) while the
# hog faults everything back in.  A failed swap-in must reach the process as
# SIGBUS, never as wrong data; every other page verifies; once the disk
# works again the SIGBUS pages are accessed once more (figures only).
. /patchkit/faults-lib.sh
require_fault_injection fail_make_request
disk=$(disk_by_serial pk-fwbr) || fail "no virtio disk with serial pk-fwbr: the host did not attach it"
fault_zram_up "$disk"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
fhog wbr -m "$mb" -s 301 -o -W -R -H "$PK_WORK" &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
echo all > $ZRAM/idle || { touch "$PK_WORK/go"; wait $pid; fail "echo all > $ZRAM/idle failed"; }
echo idle > $ZRAM/writeback
wb_rc=$?
bd_count=$(zram_stat bd_stat 1)
reads0=$(zram_stat bd_stat 2)
fr0=$(zram_stat io_stat 1)
fig wbread.writeback_status "$wb_rc"
fig wbread.bd_count "$bd_count"
[ "$bd_count" -gt 0 ] || { touch "$PK_WORK/go" "$PK_WORK/retry"; wait $pid; fail "writeback moved no page to $disk"; }
times=32
echo 1 > "/sys/block/${disk#/dev/}/make-it-fail" || fail "cannot set make-it-fail on $disk"
fail_arm fail_make_request 100 $times
touch "$PK_WORK/go"
wait_for "$PK_WORK/verified" 300 $pid
injected=$(fail_disarm fail_make_request $times)
echo 0 > "/sys/block/${disk#/dev/}/make-it-fail"
touch "$PK_WORK/retry"
wait $pid
rc=$?
fig wbread.bd_reads $(( $(zram_stat bd_stat 2) - reads0 ))
fig wbread.failed_reads $(( $(zram_stat io_stat 1) - fr0 ))
fault_summary "$injected" 0 wbr
[ "$injected" -gt 0 ] || fail "no read from $disk was failed: no written-back page was faulted in"
[ $rc = 0 ] || fail "pk-faulthog status $rc"
fault_require_intact
[ "$(figval wbr.sigbus_pages)" -gt 0 ] || fail "$injected read(s) failed but no page raised SIGBUS: where did the error go?"
# Leave a zram swap without backing device for the tests after this one.
fault_zram_up
