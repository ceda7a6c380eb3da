#!/bin/sh
# patchkit bench: the exit of a process whose 64 MiB are in zram swap (out
# of the swap cache): freeing every slot, through zram's slot_free_notify.
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
pk-bench exit -m 64 >> "$PK_FIGURES"
rc=$?
[ $rc = 0 ] || fail "pk-bench exit -m 64: exit status $rc"
[ "$(figval exit.swapped_pages)" -gt 0 ] || fail "the child swapped nothing out"
