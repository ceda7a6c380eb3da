#!/bin/sh
# Module lifecycle under load (zram built as a module): rmmod must be
# refused while a zram swap area is active and holds the hog's pages; after
# swapoff the module unloads; a plain disk then swaps through the core's
# default ops (nothing may still point into the unloaded module); zram is
# loaded again and swaps correctly again.
# On a tree with swap_register_block_ops() (series patch 1 on), the probe
# module pk_swapreg (patchkit/guest/kmod) is in the image: loading it while
# zram is registered must fail with EBUSY (one registration at a time), and
# must succeed after rmmod zram (zram's unload unregistered its ops).
# On a tree where block drivers choose their swap_ops at swapon
# (->swap_activate(), series v2), the second driver pk_swapdev is in the
# image instead: it must load and swap on next to zram (no single slot to
# fight over), and swap again after zram is unloaded and loaded again.
. /patchkit/faults-lib.sh
zram_present || skip "no zram device and no zram module"
grep -q '^zram ' /proc/modules || skip "zram is built in (CONFIG_ZRAM=y): the module test needs patchkit/guest/faults/faults.config"
disk=$(disk_by_serial pk-fmod) || fail "no virtio disk with serial pk-fmod: the host did not attach it"
fault_zram_up
probe=$(find /lib/modules -name pk_swapreg.ko | head -n 1)
if [ -n "$probe" ]; then
	insmod "$probe" 2>"$PK_WORK/reg.err" &&
		fail "a second swap_register_block_ops() succeeded while zram was registered"
	grep -qi busy "$PK_WORK/reg.err" ||
		fail "second swap_register_block_ops(): expected EBUSY, insmod said: $(cat "$PK_WORK/reg.err")"
	fig module.second_register_ebusy 1
fi
swapdev=$(find /lib/modules -name pk_swapdev.ko | head -n 1)
if [ -n "$swapdev" ]; then
	insmod "$swapdev" mb=16 2>"$PK_WORK/reg.err" ||
		fail "a second driver with ->swap_activate() did not load while zram was active: $(cat "$PK_WORK/reg.err")"
	mkswap /dev/pkswap0 > /dev/null && swapon /dev/pkswap0 ||
		fail "swapon of the second driver's disk failed while zram was swapped on"
	[ "$(cat /sys/module/pk_swapdev/parameters/activations)" = 1 ] ||
		fail "pk_swapdev's ->swap_activate() did not run once at swapon"
	swapoff /dev/pkswap0 || fail "swapoff /dev/pkswap0 failed"
	fig module.second_driver_swapon 1
fi
[ -n "$probe$swapdev" ] ||
	detail "no pk_swapreg.ko or pk_swapdev.ko in the image (tree without the series): registration not probed"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
fhog mod1 -m "$mb" -s 601 -o -W -H "$PK_WORK" &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
tries=0 refused=0
for i in 1 2 3; do
	tries=$((tries + 1))
	if rmmod zram 2>"$PK_WORK/rmmod.err"; then
		detail "rmmod zram succeeded while /dev/zram0 was an active swap area"
		break
	fi
	refused=$((refused + 1))
done
fig module.rmmod_while_active_refused "$refused"
touch "$PK_WORK/go"
wait $pid
rc1=$?
[ "$refused" = "$tries" ] || fail "rmmod zram was not refused while swap was active"
swapoff /dev/zram0 || fail "swapoff /dev/zram0 failed"
rmmod zram || fail "rmmod zram failed after swapoff: $(cat "$PK_WORK/rmmod.err")"
grep -q '^zram ' /proc/modules && fail "zram still listed in /proc/modules after rmmod"
[ -e $ZRAM ] && fail "$ZRAM still exists after rmmod zram"
fig module.unloaded 1
if [ -n "$probe" ]; then
	insmod "$probe" 2>"$PK_WORK/reg.err" ||
		fail "swap_register_block_ops() failed after rmmod zram (zram left its registration behind): $(cat "$PK_WORK/reg.err")"
	rmmod pk_swapreg || fail "rmmod pk_swapreg failed"
	fig module.register_after_unload 1
fi
if [ -n "$swapdev" ]; then
	rmmod pk_swapdev || fail "rmmod pk_swapdev failed after swapoff"
fi

# The swap core after the unload: a plain block device as swap.
mkswap "$disk" > /dev/null || fail "mkswap $disk failed"
swapon "$disk" || fail "swapon $disk failed after rmmod zram"
fhog mod2 -m "$mb" -s 602 -o
rc2=$?
swapoff "$disk" || fail "swapoff $disk failed"

# Load again and swap through zram again.
modprobe zram 2>"$PK_WORK/modprobe.err" || fail "modprobe zram failed after the unload: $(cat "$PK_WORK/modprobe.err")"
[ -d $ZRAM ] || fail "no $ZRAM after reloading zram"
fault_zram_up
fhog mod3 -m "$mb" -s 603 -o
rc3=$?
fig module.reloaded 1
if [ -n "$swapdev" ]; then
	insmod "$swapdev" mb=16 || fail "pk_swapdev did not load next to the reloaded zram"
	mkswap /dev/pkswap0 > /dev/null && swapon /dev/pkswap0 ||
		fail "swapon of the second driver's disk failed next to the reloaded zram"
	swapoff /dev/pkswap0 || fail "swapoff /dev/pkswap0 failed"
	rmmod pk_swapdev || fail "rmmod pk_swapdev failed"
	fig module.second_driver_after_reload 1
fi
fault_summary "$refused" 0 mod1 mod2 mod3
[ $rc1 = 0 ] || fail "hog with rmmod attempts: pk-faulthog status $rc1"
[ $rc2 = 0 ] || fail "hog on $disk after the unload: pk-faulthog status $rc2"
[ $rc3 = 0 ] || fail "hog after reloading zram: pk-faulthog status $rc3"
fault_require_intact
[ "$(figval mod3.pswpout)" -gt 0 ] || fail "nothing went to zram after the reload"
