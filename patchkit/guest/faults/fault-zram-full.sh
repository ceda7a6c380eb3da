#!/bin/sh
# zram full: mem_limit far below what the hog pushes out, so
# zram_write_page() fails part-way through swap-out batches.  Phase 1: the
# hog fits in RAM and is forced out with MADV_PAGEOUT; every write zram
# refused must leave its folio dirty in memory (failed_writes counts them),
# every page must read back intact.  Phase 2: a hog bigger than RAM with
# zram full; an OOM kill of the hog is allowed (and reported), corruption
# and kernel splats are not.  Phase 2 runs in a memory cgroup twice as
# small as the hog: with zram full, reclaim of the whole machine does not
# end in an OOM kill but livelocks (each pass reclaims a few zero-filled
# pages and fails every other write), on the baseline as on the series,
# for anything from seconds to over ten minutes, and nothing in the guest
# can run meanwhile.  Reclaim limited to the cgroup meets the same failing
# writes and ends in a prompt cgroup OOM kill.
. /patchkit/faults-lib.sh
fault_zram_up
limit_mb=16
echo ${limit_mb}M > $ZRAM/mem_limit || fail "writing ${limit_mb}M to $ZRAM/mem_limit failed"
fig zramfull.mem_limit_mb $limit_mb
fw0=$(zram_stat io_stat 2)

mb=$(( $(meminfo_mb MemAvailable) / 2 ))
fig zramfull.hog1_mb "$mb"
fhog full1 -m "$mb" -s 101 -o
rc1=$?
fw1=$(zram_stat io_stat 2)
used_max=$(zram_stat mm_stat 5)
fig zramfull.failed_writes_phase1 $((fw1 - fw0))
fig zramfull.mem_used_max_kb $((used_max / 1024))

# Phase 2: twice the cgroup's memory.max, zram still full.
echo "@@patchkit allow-oom pk-faulthog"
cg=/sys/fs/cgroup/pkfull
echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mkdir -p $cg || fail "cannot create the memory cgroup $cg (cgroup v2 with CONFIG_MEMCG needed)"
cap_mb=$(( $(meminfo_mb MemAvailable) / 3 ))
echo "${cap_mb}M" > $cg/memory.max || fail "cannot set $cg/memory.max"
fig zramfull.cgroup_max_mb "$cap_mb"
mb2=$(( cap_mb * 2 ))
fig zramfull.hog2_mb "$mb2"
# The OOM killer must pick the hog, not this script.
echo -1000 > /proc/$$/oom_score_adj
ooms0=$(dmesg | grep -c 'Killed process .*(pk-faulthog)')
limit=${PK_FULL_SECONDS:-60}
t0=$(cut -d' ' -f1 /proc/uptime)
(echo 0 > $cg/cgroup.procs && echo 1000 > /proc/self/oom_score_adj &&
	exec timeout -s KILL "$limit" pk-faulthog -x full2 -m "$mb2" -s 102)
rc2=$?
rmdir $cg 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
# How long phase 2 took, time limit included: a hog that is killed but
# cannot leave reclaim shows here as seconds beyond the limit.
fig zramfull.phase2_seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a }')"
echo 0 > /proc/$$/oom_score_adj
ooms=$(( $(dmesg | grep -c 'Killed process .*(pk-faulthog)') - ooms0 ))
fw2=$(zram_stat io_stat 2)
fig zramfull.failed_writes_phase2 $((fw2 - fw1))
case $rc2 in
0) ;;
1) detail "phase 2: pk-faulthog read back corrupted pages" ;;
137) if [ "$ooms" -gt 0 ]; then
	detail "phase 2: the OOM killer killed the hog (allowed)"
   else
	detail "phase 2: the hog did not finish within ${limit}s and was killed, no OOM kill (reclaim still frees zero-filled and same-filled pages, which zram stores without memory)"
	fig zramfull.phase2_stalled 1
   fi ;;
*) detail "phase 2: pk-faulthog exit status $rc2" ;;
esac
# A killed hog wrote no figures: its pages are neither verified nor lost.
fault_summary $((fw2 - fw0)) "$ooms" full1 full2
fig zramfull.phase2_status "$rc2"

# zram must not keep more than the limit (one page of slack per CPU in flight).
[ $((used_max / 1048576)) -le $((limit_mb + 1)) ] || fail "zram used $((used_max / 1048576)) MiB with mem_limit ${limit_mb} MiB"
[ $rc1 = 0 ] || fail "phase 1: pk-faulthog status $rc1"
[ $((fw1 - fw0)) -gt 0 ] || fail "failed_writes did not move in phase 1: zram never refused a write, nothing was injected"
[ "$(figval full1.pswpout)" -gt 0 ] || fail "phase 1: nothing reached zram before it was full"
fault_require_intact
[ $rc2 = 1 ] && fail "phase 2: corrupted pages"
# Leave a zram swap without a limit for the tests after this one.
fault_zram_up
