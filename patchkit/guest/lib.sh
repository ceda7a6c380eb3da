# SPDX-License-Identifier: GPL-2.0-only
# Helpers sourced by every guest test (/patchkit/tests/NAME.sh).
# A test exits 0 PASS, 4 SKIP, anything else FAIL; figures go to $PK_FIGURES
# ("key value" lines), the reason for a FAIL or SKIP to $PK_DETAIL.

ZRAM=/sys/block/zram0

fig() { echo "$1 $2" >> "$PK_FIGURES"; }
detail() { echo "$*" >> "$PK_DETAIL"; echo "$PK_TEST: $*"; }
fail() { detail "$*"; exit 1; }
skip() { detail "$*"; exit 4; }
# An OOM kill of these processes (by name) is expected in this test: the host
# reports it as allowed instead of failing the test (patchkit/console.py).
allow_oom() { echo "@@patchkit allow-oom $*"; }
# swap_io_figs PREFIX: which swap_ops method served each swap area that did
# I/O since swap_io_reset, how many folios its submissions carried, and how
# many areas did I/O (PREFIX.areas), from the swap-batching counters in
# debugfs; nothing on a kernel without them (the baseline).  Idle rows are
# left out: a swap type an earlier test used keeps a row of zeros naming its
# old ops.  Call it before swapoff: the file lists active areas only.
swap_io_figs() {
	[ -r /sys/kernel/debug/swap_io/devices ] || return 0
	awk -v p="$1" 'NR > 1 && NF >= 6 && $3 + $5 > 0 { n++
		print p ".ops " $2; print p ".read_submits " $3; print p ".read_folios " $4
		print p ".write_submits " $5; print p ".write_folios " $6 }
		END { print p ".areas " n + 0 }' /sys/kernel/debug/swap_io/devices >> "$PK_FIGURES"
}
# swap_io_reset: zero the swap-batching counters (they are per swap type and
# types are reused across tests), so swap_io_figs sees this test's I/O only.
swap_io_reset() {
	[ -w /sys/kernel/debug/swap_io/write_submits ] || return 0
	echo 0 > /sys/kernel/debug/swap_io/write_submits
}
# The value of a figure already written (e.g. by pk-hog), or empty.
figval() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$PK_FIGURES"; }
meminfo_mb() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' /proc/meminfo; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

# pk-hog with the exit status spelled out; returns pk-hog's status.
hog() {
	pk-hog "$@"
	rc=$?
	case $rc in
	0) ;;
	1) detail "pk-hog $*: pages read back differ from what was written" ;;
	2) detail "pk-hog $*: not every page was verified (a process died or failed)" ;;
	*) detail "pk-hog $*: exit status $rc" ;;
	esac
	return $rc
}

# The check that makes a swap test mean something: pages did go to swap.
require_swapped_out() {
	key=${1:-hog}.pswpout
	n=$(figval "$key")
	[ -n "$n" ] || fail "no $key figure: pk-hog could not read /proc/vmstat"
	[ "$n" -gt 0 ] || fail "$key is 0: nothing went to swap, so the data check proved nothing"
}

# ... and that verifying read pages back from swap (not from the swap cache).
require_swapped_in() {
	key=${1:-hog}.pswpin
	n=$(figval "$key")
	[ -n "$n" ] || fail "no $key figure: pk-hog could not read /proc/vmstat"
	[ "$n" -gt 0 ] || fail "$key is 0: no page was read back from swap, so the read path went untested"
}

zram_present() {
	[ -d $ZRAM ] && return 0
	[ -d /sys/class/zram-control ] && cat /sys/class/zram-control/hot_add > /dev/null && [ -d $ZRAM ] && return 0
	modprobe zram 2>/dev/null || insmod "$(find /lib/modules -name 'zram.ko*' | head -n 1)" 2>/dev/null
	[ -d $ZRAM ]
}

require_zram() {
	zram_present || skip "no zram device: CONFIG_ZRAM is off and no zram module was found"
}

# The algorithm to use: the first of the preferred ones the kernel offers.
zram_pick_alg() {
	avail=$(tr -d '[]' < $ZRAM/comp_algorithm)
	for a in "$@"; do
		for b in $avail; do
			[ "$a" = "$b" ] && { echo "$a"; return 0; }
		done
	done
	set -- $avail
	echo "$1"
}

zram_current_alg() { sed -n 's/.*\[\([^]]*\)\].*/\1/p' $ZRAM/comp_algorithm; }

swap_off_all() {
	for dev in $(awk 'NR > 1 { print $1 }' /proc/swaps); do
		swapoff "$dev" || fail "swapoff $dev failed"
	done
}

zram_down() {
	grep -q '^/dev/zram0 ' /proc/swaps && { swapoff /dev/zram0 || fail "swapoff /dev/zram0 failed"; }
	echo 1 > $ZRAM/reset || fail "writing 1 to $ZRAM/reset failed"
}

# zram_up SIZE_MB ALGORITHM [BACKING_DEV]: a fresh zram0 as the only swap.
zram_up() {
	swap_off_all
	zram_down
	if [ -n "$3" ]; then
		echo "$3" > $ZRAM/backing_dev || fail "writing $3 to $ZRAM/backing_dev failed"
	fi
	echo "$2" > $ZRAM/comp_algorithm || fail "writing $2 to $ZRAM/comp_algorithm failed"
	echo "${1}M" > $ZRAM/disksize || fail "writing ${1}M to $ZRAM/disksize failed"
	mkswap /dev/zram0 > /dev/null || fail "mkswap /dev/zram0 failed"
	swapon /dev/zram0 || fail "swapon /dev/zram0 failed"
	grep -q '^/dev/zram0 ' /proc/swaps || fail "/dev/zram0 is not in /proc/swaps after swapon"
}

zram_default_size() { echo $(( $(meminfo_mb MemTotal) * 2 )); }

# Tests that need zram swap call this: reuse zram0 if it is the swap, else set it up.
ensure_zram_swap() {
	require_zram
	if grep -q '^/dev/zram0 ' /proc/swaps && [ "$(awk 'NR > 1' /proc/swaps | wc -l)" = 1 ]; then
		return 0
	fi
	zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)"
}

# The /dev node of the virtio disk the host attached with this serial.
disk_by_serial() {
	for d in /sys/block/vd*; do
		[ -r "$d/serial" ] && [ "$(cat "$d/serial")" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
	done
	return 1
}

# wait_for FILE SECONDS PID: wait until FILE exists; fail if PID ends first.
wait_for() {
	i=0
	while [ ! -e "$1" ]; do
		kill -0 "$3" 2>/dev/null || { wait "$3"; fail "pk-hog ended (status $?) before $1 appeared"; }
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || fail "$1 did not appear within $2 s"
		usleep 100000
	done
}

# --- swap_ops checks (zram-swap-ops v2) -----------------------------------
# A bio meter for one disk that never fails anything: fail_make_request armed
# on the disk (make-it-fail) with a budget ("space") so large that it is not
# used up, so each bio submitted to the disk only takes its size off the
# budget.  What the budget lost is exactly the bytes of bios the disk got.
# Needs CONFIG_FAIL_MAKE_REQUEST + CONFIG_FAULT_INJECTION_DEBUG_FS
# (--fragment patchkit/configs/swap-ops.config); tests skip without them.
FMR=/sys/kernel/debug/fail_make_request
BIO_BUDGET=2000000000
require_bio_meter() {
	[ -d $FMR ] || skip "no $FMR: build with --fragment patchkit/configs/swap-ops.config (CONFIG_FAIL_MAKE_REQUEST, CONFIG_FAULT_INJECTION_DEBUG_FS)"
}
# bio_meter_on DISK (a /sys/block name, e.g. zram0)
bio_meter_on() {
	echo 0 > $FMR/verbose
	echo 1 > $FMR/interval
	echo -1 > $FMR/times
	echo $BIO_BUDGET > $FMR/space || fail "cannot set $FMR/space"
	echo 100 > $FMR/probability
	echo 1 > "/sys/block/$1/make-it-fail" || fail "cannot set make-it-fail on $1"
}
# bio_meter_bytes: bytes of bios so far, on every metered disk together
bio_meter_bytes() { echo $((BIO_BUDGET - $(cat $FMR/space))); }
bio_meter_off() {
	echo 0 > "/sys/block/$1/make-it-fail"
	echo 0 > $FMR/probability
}
# blk_stat DISK FIELD: one field of /sys/block/DISK/stat (Documentation/block/stat.rst:
# 1 read I/Os, 3 read sectors, 5 write I/Os, 7 write sectors, 9 in_flight)
blk_stat() { awk -v f="$2" '{ print $f }' "/sys/block/$1/stat"; }
# zram_io_stat FIELD: 1 failed_reads 2 failed_writes 3 invalid_io 4 notify_free
zram_io_stat() { awk -v f="$1" '{ print $f }' $ZRAM/io_stat; }
