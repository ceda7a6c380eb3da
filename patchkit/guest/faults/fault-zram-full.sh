#!/bin/sh
# zram full: mem_limit far below what the hog pushes out, so
# zram_write_page() fails part-way through swap-out batches.  Phase 1: the
# hog fits in RAM and is forced out with MADV_PAGEOUT; every write zram
# refused must leave its folio dirty in memory (failed_writes counts them),
# every page must read back intact.  Phase 2: a hog bigger than RAM with
# zram full; an OOM kill of the hog is allowed (and reported), corruption
# and kernel splats are not.
#
# Phase 2 runs the hog in a memory cgroup half its size: with zram full,
# reclaim of the whole machine does not end in an OOM kill but livelocks.
# And zram must *stay* full: if the hog's own swap-ins free zram space,
# every pass of the cgroup's reclaim gets a few writes through, memcg
# charging retries as long as a pass frees anything (even for a task that
# has been SIGKILLed), and the hog thrashed on for up to 470 s on the
# series and past the 600 s limit on the baseline.  So a filler outside the
# cgroup first pushes more into zram than it can hold and then holds its
# slots untouched; the hog's writes all fail, its reclaim makes no
# progress, and the cgroup's OOM kill comes.  The filler then reads every
# page back: zram kept its data through the storm.
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

# Phase 2: keep zram full from outside the cgroup, then the hog: twice the
# cgroup's memory.max.
fill_mb=$(( limit_mb * 3 ))
fig zramfull.fill_mb "$fill_mb"
mkdir -p "$PK_WORK/fill"
# Neither the filler (inherits it) nor this script may be the OOM victim: the hog must.
echo -1000 > /proc/$$/oom_score_adj
fhog fill -m "$fill_mb" -s 103 -o -W -H "$PK_WORK/fill" &
fill_pid=$!
wait_for "$PK_WORK/fill/ready" 300 $fill_pid
fw_fill=$(zram_stat io_stat 2)
fig zramfull.failed_writes_fill $((fw_fill - fw1))
[ $((fw_fill - fw1)) -gt 0 ] || { touch "$PK_WORK/fill/go"; wait $fill_pid; fail "the filler's ${fill_mb} MiB all fitted in zram: zram is not full for phase 2"; }

echo "@@patchkit allow-oom pk-faulthog"
cg=/sys/fs/cgroup/pkfull
echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mkdir -p $cg || fail "cannot create the memory cgroup $cg (cgroup v2 with CONFIG_MEMCG needed)"
cap_mb=$(( $(meminfo_mb MemAvailable) / 3 ))
echo "${cap_mb}M" > $cg/memory.max || fail "cannot set $cg/memory.max"
fig zramfull.cgroup_max_mb "$cap_mb"
mb2=$(( cap_mb * 2 ))
fig zramfull.hog2_mb "$mb2"
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
fig zramfull.failed_writes_phase2 $((fw2 - fw_fill))
touch "$PK_WORK/fill/go"
wait $fill_pid
rc_fill=$?
case $rc2 in
0) ;;
1) detail "phase 2: pk-faulthog read back corrupted pages" ;;
137) if [ "$ooms" -gt 0 ]; then
	detail "phase 2: the OOM killer killed the hog (allowed)"
   else
	detail "phase 2: the hog did not finish within ${limit}s and was killed, no OOM kill (a stall: the cgroup's reclaim kept freeing something)"
	fig zramfull.phase2_stalled 1
   fi ;;
*) detail "phase 2: pk-faulthog exit status $rc2" ;;
esac
# A killed hog wrote no figures: its pages are neither verified nor lost.
fault_summary $((fw2 - fw0)) "$ooms" full1 fill full2
fig zramfull.phase2_status "$rc2"

# zram must not keep more than the limit (one page of slack per CPU in flight).
[ $((used_max / 1048576)) -le $((limit_mb + 1)) ] || fail "zram used $((used_max / 1048576)) MiB with mem_limit ${limit_mb} MiB"
[ $rc1 = 0 ] || fail "phase 1: pk-faulthog status $rc1"
[ $((fw1 - fw0)) -gt 0 ] || fail "failed_writes did not move in phase 1: zram never refused a write, nothing was injected"
[ "$(figval full1.pswpout)" -gt 0 ] || fail "phase 1: nothing reached zram before it was full"
fault_require_intact
[ $rc_fill = 0 ] || fail "phase 2: the filler (holding zram full) ended with status $rc_fill"
[ $rc2 = 1 ] && fail "phase 2: corrupted pages"
# Leave a zram swap without a limit for the tests after this one.
fault_zram_up
