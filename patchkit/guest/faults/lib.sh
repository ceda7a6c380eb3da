# SPDX-License-Identifier: GPL-2.0-only
# Helpers for the fault tests (/patchkit/tests/fault-*.sh), on top of
# /patchkit/lib.sh.  Every fault test ends by writing the summary figures
# the host's fault matrix reads (patchkit/faults.py):
#   fault.injected   faults the kernel really injected (or failures it counted)
#   fault.pages      pages the hogs wrote
#   fault.verified   pages read back intact
#   fault.sigbus     pages the kernel reported lost to the process (SIGBUS)
#   fault.corrupted  pages read back wrong (must be 0)
#   fault.lost       pages never accounted for by a finished hog (must be 0)
#   fault.oom_killed hogs killed by the OOM killer (allowed where the test says)
. /patchkit/lib.sh

DBG=/sys/kernel/debug

# fhog PREFIX ARGS...: pk-faulthog with figures under PREFIX; returns its status.
fhog() {
	p=$1
	shift
	pk-faulthog -x "$p" "$@"
	rc=$?
	case $rc in
	0) ;;
	1) detail "pk-faulthog $p: pages read back differ from what was written" ;;
	2) detail "pk-faulthog $p: did not finish" ;;
	137) detail "pk-faulthog $p: killed (SIGKILL)" ;;
	*) detail "pk-faulthog $p: exit status $rc" ;;
	esac
	return $rc
}

# Sum of one figure over several hog prefixes (missing figures count 0).
figsum() {
	key=$1
	shift
	t=0
	for p in "$@"; do
		v=$(figval "$p.$key")
		t=$((t + ${v:-0}))
	done
	echo $t
}

# fault_summary INJECTED OOM_KILLED PREFIX...: the fault.* figures.
fault_summary() {
	inj=$1 oom=$2
	shift 2
	fig fault.injected "$inj"
	fig fault.oom_killed "$oom"
	fig fault.pages "$(figsum pages "$@")"
	fig fault.verified "$(figsum verified_pages "$@")"
	fig fault.sigbus "$(figsum sigbus_pages "$@")"
	fig fault.corrupted "$(figsum mismatches "$@")"
	fig fault.lost "$(figsum lost_pages "$@")"
}

# The checks every fault test shares: nothing corrupted, nothing silently lost.
fault_require_intact() {
	c=$(figval fault.corrupted)
	l=$(figval fault.lost)
	[ "${c:-0}" = 0 ] || fail "$c page(s) read back corrupted"
	[ "${l:-0}" = 0 ] || fail "$l page(s) never accounted for"
}

zram_stat() { # zram_stat FILE FIELD(1-based)
	awk -v f="$2" '{ print $f }' "$ZRAM/$1"
}

# fail_attr CAPABILITY ATTR VALUE: write a fault-injection debugfs attribute.
fail_attr() {
	echo "$3" > "$DBG/$1/$2" || fail "writing $3 to $DBG/$1/$2 failed"
}

require_fault_injection() {
	for cap in "$@"; do
		[ -d "$DBG/$cap" ] || skip "no $DBG/$cap: CONFIG_FAULT_INJECTION_DEBUG_FS or the $cap capability is off (patchkit/guest/faults/faults.config)"
	done
}

# fail_arm CAPABILITY PROBABILITY TIMES: fail at PROBABILITY percent, at most TIMES times.
fail_arm() {
	fail_attr "$1" verbose 0
	fail_attr "$1" interval 1
	fail_attr "$1" space 0
	fail_attr "$1" times "$3"
	fail_attr "$1" probability "$2"
}

# fail_disarm CAPABILITY ARMED_TIMES: stop injecting; prints how many faults were injected.
fail_disarm() {
	left=$(cat "$DBG/$1/times")
	echo 0 > "$DBG/$1/probability"
	echo $(($2 - left))
}

# A zram0 for one test, as the only swap; MODE "wb" adds the backing disk with SERIAL.
fault_zram_up() {
	require_zram
	alg=$(zram_pick_alg lz4 lzo-rle lzo zstd)
	if [ -n "$1" ]; then
		[ -e $ZRAM/backing_dev ] || skip "no $ZRAM/backing_dev: CONFIG_ZRAM_WRITEBACK is off"
		zram_up "$(zram_default_size)" "$alg" "$1"
	else
		zram_up "$(zram_default_size)" "$alg"
	fi
}
