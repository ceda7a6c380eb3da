#!/bin/sh
# Several processes fill more than guest RAM with checksummed pages of mixed
# kinds, then read every page back.
. /patchkit/lib.sh
ensure_zram_swap
swap_io_reset
total=$(meminfo_mb MemTotal)
mb=$(( total * 5 / 4 ))
[ $mb -gt $((total + 32)) ] || mb=$((total + 32))
fig hog.mb "$mb"
hog -m "$mb" -p 3 -s 11 || exit 1
swap_io_figs swapio
require_swapped_out hog
