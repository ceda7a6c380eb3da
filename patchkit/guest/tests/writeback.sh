#!/bin/sh
# zram writeback: pages marked idle are written to a backing virtio disk,
# then faulted back in (read from that disk) and verified.
. /patchkit/lib.sh
require_zram
[ -e $ZRAM/backing_dev ] || skip "no $ZRAM/backing_dev: CONFIG_ZRAM_WRITEBACK is off"
disk=$(disk_by_serial pk-wb) || fail "no virtio disk with serial pk-wb: the host did not attach it"
zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)" "$disk"
fig writeback.backing_dev "$(cat $ZRAM/backing_dev)"
mb=$(( $(meminfo_mb MemAvailable) / 3 ))
hog -m "$mb" -p 2 -s 41 -o -k scr -H "$PK_WORK" -q &
pid=$!
wait_for "$PK_WORK/ready" 300 $pid
set -- $(cat $ZRAM/bd_stat)
fig writeback.bd_count_before "$1"
echo all > $ZRAM/idle || { touch "$PK_WORK/go"; wait $pid; fail "echo all > $ZRAM/idle failed"; }
echo idle > $ZRAM/writeback
rc=$?
set -- $(cat $ZRAM/bd_stat)
count=$1 reads0=$2 writes=$3
fig writeback.bd_count "$count"
fig writeback.bd_writes "$writes"
touch "$PK_WORK/go"
wait $pid
hog_rc=$?
set -- $(cat $ZRAM/bd_stat)
fig writeback.bd_reads "$(( $2 - reads0 ))"
[ $rc = 0 ] || fail "echo idle > $ZRAM/writeback failed (status $rc)"
[ "$writes" -gt 0 ] || fail "bd_stat shows no page written back"
[ $hog_rc = 0 ] || fail "pk-hog status $hog_rc after writeback"
[ $(( $2 - reads0 )) -gt 0 ] || fail "bd_stat shows no read from the backing device: no written-back page was faulted in"
# Leave a zram swap without backing device for the tests after this one.
zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)"
