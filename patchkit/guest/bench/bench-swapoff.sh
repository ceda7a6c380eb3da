#!/bin/sh
# patchkit bench: swapoff of a zram swap holding 64 MiB of one process's
# pages (out of the swap cache), which reads every page back in.
. /patchkit/lib.sh
require_zram
alg=$(zram_pick_alg lzo-rle lzo lz4)
zram_up "$(zram_default_size)" "$alg"
fig bench.algorithm "$alg"
pk-bench swapoff -m 64 >> "$PK_FIGURES"
rc=$?
case $rc in
0) ;;
1) fail "pk-bench swapoff: pages read back differ from what was written" ;;
*) fail "pk-bench swapoff -m 64: exit status $rc" ;;
esac
[ "$(figval swapoff.pswpin)" -gt 0 ] || fail "swapoff read nothing back from swap"
# Leave a zram swap for the tests after this one.
zram_up "$(zram_default_size)" "$alg"
