#!/bin/sh
# A swap file on NFS, the backend that does its own I/O (->swap_rw and
# swap_fs_ops, or nfs_swap_ops in the mainline backport): the guest serves
# NFSv4.2 to itself over loopback.  The in-kernel nfsd exports ext2 on a
# virtio disk; there is no rpc.mountd, so the export is written straight into
# nfsd's caches (/proc/net/rpc/*/channel, the lines mountd would write), and
# no rpcbind or lockd, as NFSv4 needs neither.  The in-kernel client mounts
# it via 127.0.0.1, a swap file on the mount becomes the only swap, and pages
# forced out with MADV_PAGEOUT are read back and verified.  The swap_io
# debugfs counters must show that the file system's swap ops did the I/O.
# Needs a kernel built with --fragment patchkit/configs/nfs-swap.config;
# skips on one without.
. /patchkit/lib.sh

FRAGMENT=patchkit/configs/nfs-swap.config
grep -qw nfs4 /proc/filesystems || skip "no NFSv4 client in this kernel (CONFIG_NFS_V4): build with --fragment $FRAGMENT"
grep -qw nfsd /proc/filesystems || skip "no NFS server in this kernel (CONFIG_NFSD): build with --fragment $FRAGMENT"

NFSD=/proc/fs/nfsd
EXPORT=/mnt/nfs-export
MNT=/mnt/nfs
DOMAIN=pk-loopback
# Far enough in the future never to expire during a test (seconds since the epoch).
FOREVER=2147483647
# <linux/nfsd/export.h>: NFSEXP_INSECURE_PORT | NFSEXP_NOSUBTREECHECK | NFSEXP_FSID;
# no NFSEXP_ROOTSQUASH (root writes the swap file).  fsid=0 makes the export
# the NFSv4 pseudo-root, so the client mounts it as "/".
EXPORT_FLAGS=$((0x0002 | 0x0400 | 0x2000))
# fsid type 1 (FSID_NUM): a 4-byte fsid, here 0, hex-encoded for the cache.
FSID0='\x00000000'

# Undo whatever was set up, in reverse order; safe to call at any point.
teardown() {
	grep -q "^$MNT/swapfile " /proc/swaps && swapoff "$MNT/swapfile"
	grep -q " $MNT nfs" /proc/mounts && umount "$MNT"
	[ -w $NFSD/threads ] && echo 0 > $NFSD/threads
	grep -q " $EXPORT " /proc/mounts && umount "$EXPORT"
	grep -q " $NFSD nfsd" /proc/mounts && umount $NFSD
}
die() { teardown 2>/dev/null; fail "$*"; }

# channel NAME LINE: add one entry to an nfsd/sunrpc cache, as mountd would.
channel() {
	printf '%s\n' "$2" > "/proc/net/rpc/$1/channel" || die "writing '$2' to /proc/net/rpc/$1/channel failed"
}

disk=$(disk_by_serial pk-nfs) || fail "no virtio disk with serial pk-nfs: the host did not attach it"
t0=$(cut -d' ' -f1 /proc/uptime)

# -- the server ---------------------------------------------------------
ip link set lo up || die "ip link set lo up failed"
mkdir -p $NFSD $EXPORT $MNT /var/lib/nfs/v4recovery
mount -t nfsd nfsd $NFSD || die "mount -t nfsd nfsd $NFSD failed"
mount -t ext2 "$disk" $EXPORT || die "mount -t ext2 $disk $EXPORT failed"
# NFSv4 only: v3 would need lockd and rpcbind registrations.
echo "-3 +4 +4.1 +4.2" > $NFSD/versions || die "writing to $NFSD/versions failed"
# The shortest grace period nfsd takes, in case ending it early fails below.
echo 10 > $NFSD/nfsv4gracetime || die "writing to $NFSD/nfsv4gracetime failed"
# The client 127.0.0.1 is in domain $DOMAIN, which may see the export.
channel auth.unix.ip "nfsd 127.0.0.1 $FOREVER $DOMAIN"
channel nfsd.export "$DOMAIN $EXPORT $FOREVER $EXPORT_FLAGS 65534 65534 0"
channel nfsd.fh "$DOMAIN 1 $FSID0 $FOREVER $EXPORT"
echo 4 > $NFSD/threads || die "starting nfsd (echo 4 > $NFSD/threads) failed: see the console"
# No client can have state to reclaim from an earlier nfsd: end the grace
# period now (it needs client tracking, the legacy recovery directory made
# above), else opens would be refused with NFS4ERR_GRACE for 10 s.
if ! echo Y > $NFSD/v4_end_grace 2>/dev/null; then
	detail "could not end the NFSv4 grace period early: waiting it out"
fi
i=0
until [ "$(cat $NFSD/v4_end_grace)" = Y ]; do
	i=$((i + 1))
	[ $i -le 300 ] || die "the NFSv4 grace period did not end within 30 s"
	usleep 100000
done
t1=$(cut -d' ' -f1 /proc/uptime)

# -- the client ---------------------------------------------------------
mount -t nfs4 -o vers=4.2,sec=sys,proto=tcp,addr=127.0.0.1,clientaddr=127.0.0.1 127.0.0.1:/ $MNT ||
	die "mount -t nfs4 127.0.0.1:/ $MNT failed: see the console"
t2=$(cut -d' ' -f1 /proc/uptime)
file=$MNT/swapfile
size_mb=$(( $(meminfo_mb MemTotal) / 4 ))
dd if=/dev/zero of=$file bs=1M count=$size_mb 2>/dev/null || die "writing the $size_mb MiB swap file over NFS failed"
chmod 600 $file
mkswap $file > /dev/null || die "mkswap $file failed"
# swapon refuses a file whose cached i_blocks say it has holes: make the
# client fetch the attributes the server has after every write landed.
sync
echo 3 > /proc/sys/vm/drop_caches
stat $file > /dev/null
t3=$(cut -d' ' -f1 /proc/uptime)
swap_off_all
swapon $file || die "swapon $file failed (a kernel without CONFIG_NFS_SWAP refuses NFS swap files): see the console"

swap_io_reset
# pk-hog's figures go after the swap_io ones, so that the summary tables
# (which show the first few figures) show which ops did the I/O.
hog -m $(( size_mb / 2 )) -p 2 -s 67 -o -f "$PK_WORK/hog.figures"
rc=$?
# Which ops served the swap file, before swapoff drops it from the counters.
swap_io_figs nfs
cat "$PK_WORK/hog.figures" >> "$PK_FIGURES" 2>/dev/null
fig swapfile.size_mb "$size_mb"
fig nfs.server_start_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
fig nfs.mount_s "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')"
fig nfs.swapfile_write_s "$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }')"
swapoff $file || die "swapoff $file failed"
teardown
[ $rc = 0 ] || exit 1
require_swapped_out hog
require_swapped_in hog

# The series' counters name the submit method of the ops that did the I/O:
# all of it must have gone through the file system's ops (swap_fs_ops of the
# version 1 base layer, NFS's own nfs_swap_ops in the mainline backport).
# A kernel without them (the baseline) has no swap_ops to check.
[ -r /sys/kernel/debug/swap_io/devices ] || { detail "no /sys/kernel/debug/swap_io: which swap_ops served the I/O was not checked"; exit 0; }
[ "$(figval nfs.areas)" = 1 ] || fail "swap_io counts I/O on $(figval nfs.areas) swap areas; the NFS swap file was the only swap"
ops=$(figval nfs.ops)
case "$ops" in
swap_fs_submit_write|nfs_swap_submit_write) ;;
*) fail "swap I/O to the NFS swap file went through ${ops:-no swap_ops at all}, not the file system's (swap_fs_submit_write or nfs_swap_submit_write)" ;;
esac
[ "$(figval nfs.write_folios)" -gt 0 ] || fail "$ops wrote no folio although pages went to swap"
[ "$(figval nfs.read_folios)" -gt 0 ] || fail "the NFS swap ops read no folio although pages came back from swap"
