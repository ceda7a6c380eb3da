#!/bin/sh
# Allocation failures: failslab and fail_page_alloc with task-filter, so
# only the hog's own allocations fail (it sets /proc/self/make-it-fail once
# its pages are filled).  Its MADV_PAGEOUT swap-out (reclaim in its own
# context: swap cache, zram's zsmalloc and compression buffers, the swap
# iocb) and its swap-in faults then see failures.  Expected: the swap path
# degrades (pages stay in memory, faults retry), nothing corrupts, no splat.
. /patchkit/faults-lib.sh
require_fault_injection failslab fail_page_alloc
fault_zram_up
times=5000
for cap in failslab fail_page_alloc; do
	fail_attr $cap task-filter Y
	fail_attr $cap ignore-gfp-wait N
done
fail_attr fail_page_alloc ignore-gfp-highmem N
fail_attr fail_page_alloc min-order 0
fail_arm failslab 10 $times
fail_arm fail_page_alloc 10 $times
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
fhog alloc1 -m "$mb" -s 401 -o -F
rc1=$?
# A second round with swap in and out in a loop while the faults keep coming.
fhog alloc2 -m "$mb" -s 402 -o -F -L -H "$PK_WORK" &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
sleep 10
touch "$PK_WORK/go"
wait $pid
rc2=$?
slab=$(fail_disarm failslab $times)
page=$(fail_disarm fail_page_alloc $times)
for cap in failslab fail_page_alloc; do
	echo N > $DBG/$cap/task-filter
done
fig alloc.failslab_injected "$slab"
fig alloc.fail_page_alloc_injected "$page"
fig alloc.failed_writes "$(zram_stat io_stat 2)"
fault_summary $((slab + page)) 0 alloc1 alloc2
[ $((slab + page)) -gt 0 ] || fail "no allocation was failed: the fault injection did not reach the hog"
[ $rc1 = 0 ] || fail "round 1: pk-faulthog status $rc1"
[ $rc2 = 0 ] || fail "round 2: pk-faulthog status $rc2"
fault_require_intact
[ "$(figval fault.sigbus)" = 0 ] || fail "$(figval fault.sigbus) page(s) raised SIGBUS under allocation failures"
