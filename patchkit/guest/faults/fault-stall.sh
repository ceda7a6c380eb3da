#!/bin/sh
# The sio_pool stall case: swap readahead holds an open read batch (an iocb
# from sio_pool) while it allocates the next folio; direct reclaim inside
# that allocation needs a second iocb for a zram write.  If the pool's
# reserved iocbs sit in such unsubmitted batches and the allocation of a new
# one fails, the writer waits for an element that only the blocked readers
# would give back.
#
# Set up: zram as the only swap, page-cluster 3, a hog that keeps memory
# over-full and hot (global pressure; its pages swap in without the swap
# cache, so reclaim has to write them out again), and pk-rastall: a parent
# swaps out a region and forks PK_STALL_CHILDREN children (swap count above
# one, so no skip-swapcache shortcut: every fault goes through readahead)
# that read it all at once.  More children than sio_pool has reserved
# elements (SWAP_CLUSTER_MAX, 32) can hold them all in open batches.
#
# failslab fails every kmalloc-1k allocation (where the iocbs come from)
# made inside reclaim (shrink_folio_list() on the stack: the stacktrace
# filter), and no other: a write iocb for reclaim can only come from the
# pool's reserve, while readers allocate theirs as they normally would.  A
# kernel that takes the reserve first for every iocb (swap-batching v1)
# lets the readers drain it and the writers wait; one that allocates first
# and falls back to the reserve (mempool_alloc(), as Linux 7.3 and the v2
# backport do) leaves it to the writers.  Hung-task detection runs with a
# 10 s timeout for the test (a report fails the test through the console).
# Figures: how long tasks waited inside mempool_alloc() (sampled wchan),
# the longest single wait, whether the children finished, and every page
# verified.
. /patchkit/faults-lib.sh
require_fault_injection failslab
[ -e $DBG/failslab/require-start ] ||
	skip "no $DBG/failslab/require-start: CONFIG_FAULT_INJECTION_STACKTRACE_FILTER is off (patchkit/guest/faults/faults.config)"
cachefile=/sys/kernel/slab/kmalloc-1k/failslab
[ -w $cachefile ] && [ -e $DBG/failslab/cache-filter ] ||
	skip "no $cachefile: failslab cannot be scoped to kmalloc-1k (CONFIG_SLUB_DEBUG is off)"
# [start, end) of shrink_folio_list(): its address and the next symbol's
range=$(sort /proc/kallsyms | awk '
	f && $1 != start { print "0x" start, "0x" $1; exit }
	$3 == "shrink_folio_list" { f = 1; start = $1 }')
set -- $range
[ $# = 2 ] && [ "$1" != 0x0000000000000000 ] ||
	skip "shrink_folio_list() is not in /proc/kallsyms (or its addresses are hidden)"
fault_zram_up
children=${PK_STALL_CHILDREN:-48}
timeout=${PK_STALL_TIMEOUT:-240}

old_cluster=$(cat /proc/sys/vm/page-cluster)
echo 3 > /proc/sys/vm/page-cluster || fail "cannot set vm.page-cluster to 3"
hung=/proc/sys/kernel/hung_task_timeout_secs
[ -w $hung ] || skip "no $hung: CONFIG_DETECT_HUNG_TASK is off"
old_hung=$(cat $hung)
echo 10 > $hung
echo 0 > /proc/sys/kernel/hung_task_panic 2>/dev/null
fig stall.hung_task_timeout_secs "$(cat $hung)"
fig stall.page_cluster "$(cat /proc/sys/vm/page-cluster)"
fig stall.children "$children"

fail_attr failslab task-filter N
fail_attr failslab ignore-gfp-wait N
fail_attr failslab require-start "$1"
fail_attr failslab require-end "$2"
echo 1 > $cachefile ||
	fail "cannot scope failslab to kmalloc-1k: SLUB merged other caches into it (boot with slab_nomerge)"
fail_attr failslab cache-filter Y

# Memory pressure: a hog holding half of what is available, verifying its
# pages in a loop until told to stop; with the readers' third, memory is
# over-full.
avail=$(meminfo_mb MemAvailable)
mkdir -p "$PK_WORK/hog"
pk-hog -m $((avail / 2)) -p 2 -s 601 -k cr -H "$PK_WORK/hog" -x stallhog &
hogpid=$!
wait_for "$PK_WORK/hog/ready" 300 $hogpid

times=100000000
fail_arm failslab 100 $times
pk-rastall -m $((avail / 3)) -c "$children" -s 602 -T "$timeout" -x rastall
rc=$?
injected=$(fail_disarm failslab $times)
fail_attr failslab cache-filter N
echo 0 > $cachefile
fail_attr failslab require-start 0
fail_attr failslab require-end 0xffffffffffffffff

touch "$PK_WORK/hog/go"
wait $hogpid
hogrc=$?
echo "$old_cluster" > /proc/sys/vm/page-cluster
echo "$old_hung" > $hung

fig stall.failslab_injected "$injected"
n=$(vmstat nrswpin)
[ -n "$n" ] && fig stall.nrswpin "$n"
fig fault.injected "$injected"
fig fault.oom_killed 0
fig fault.pages "$(figval rastall.pages)"
fig fault.verified "$(figval rastall.verified_pages)"
fig fault.sigbus 0
fig fault.corrupted "$(figval rastall.mismatches)"
fig fault.lost "$(figval rastall.lost_pages)"
[ "$(figval rastall.timed_out)" = 0 ] || fail "the readers did not finish in ${timeout} s: a stall (longest pool wait $(figval rastall.pool_wait_max_ms) ms, $(figval rastall.unfinished) children unfinished)"
[ $rc = 0 ] || fail "pk-rastall status $rc"
[ $hogrc = 0 ] || fail "the pressure hog: pk-hog status $hogrc"
fault_require_intact
max=$(figval rastall.pool_wait_max_ms)
[ "${max:-0}" -lt 5000 ] || fail "a task waited ${max} ms in one go for a mempool element (sio_pool): a stall"
