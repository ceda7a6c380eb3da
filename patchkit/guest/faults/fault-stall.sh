#!/bin/sh
# The sio_pool stall case: swap readahead holds an open read batch (an iocb
# from sio_pool) while it allocates the next folio; direct reclaim inside
# that allocation needs a second iocb for a zram write.  If the pool's
# reserved iocbs sit in such unsubmitted batches and the allocation of a new
# one fails, the writer waits for an element that only the blocked readers
# would give back.
#
# Set up: zram as the only swap, page-cluster 3, a hog that keeps memory
# full and hot (global pressure), and pk-rastall: a parent swaps out a
# region and forks PK_STALL_CHILDREN children (swap count above one, so no
# skip-swapcache shortcut: every fault goes through readahead) that read it
# all at once.  failslab with task-filter fails every slab allocation of
# kmalloc-1k (where the iocbs come from) made by the children, so their
# iocbs can only come from the pool's reserve.  Hung-task detection runs
# with a 10 s timeout for the test (a report fails the test through the
# console).  Figures: how long tasks waited inside mempool_alloc() (sampled
# wchan), the longest single wait, whether the children finished, and
# every page verified.
. /patchkit/faults-lib.sh
require_fault_injection failslab
fault_zram_up
children=${PK_STALL_CHILDREN:-30}
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

# Scope failslab to kmalloc-1k when the slab sysfs allows it; else every
# slab allocation of the children is failed.
fail_attr failslab task-filter Y
fail_attr failslab ignore-gfp-wait N
cachefile=/sys/kernel/slab/kmalloc-1k/failslab
if [ -w $cachefile ] && [ -e $DBG/failslab/cache-filter ]; then
	echo 1 > $cachefile && fail_attr failslab cache-filter Y
	fig stall.cache_filter 1
else
	fig stall.cache_filter 0
fi

# Memory pressure: a hog holding a third of what is available, verifying
# its pages in a loop until told to stop.
avail=$(meminfo_mb MemAvailable)
mkdir -p "$PK_WORK/hog"
pk-hog -m $((avail / 3)) -p 2 -s 601 -k cr -H "$PK_WORK/hog" -x stallhog &
hogpid=$!
wait_for "$PK_WORK/hog/ready" 300 $hogpid

times=100000000
fail_arm failslab 100 $times
pk-rastall -m $((avail / 5)) -c "$children" -s 602 -F -T "$timeout" -x rastall
rc=$?
injected=$(fail_disarm failslab $times)
fail_attr failslab task-filter N
if [ "$(figval stall.cache_filter)" = 1 ]; then
	fail_attr failslab cache-filter N
	echo 0 > $cachefile
fi

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
[ "$(figval rastall.timed_out)" = 0 ] || fail "the readers did not finish in ${timeout} s: a stall (longest pool wait $(figval rastall.pool_wait_max_ms) ms)"
[ $rc = 0 ] || fail "pk-rastall status $rc"
[ $hogrc = 0 ] || fail "the pressure hog: pk-hog status $hogrc"
fault_require_intact
max=$(figval rastall.pool_wait_max_ms)
[ "${max:-0}" -lt 5000 ] || fail "a task waited ${max} ms in one go for a mempool element (sio_pool): a stall"
