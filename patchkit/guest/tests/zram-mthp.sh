#!/bin/sh
# Large folios go out to zram and come back through zram's swap_ops whole.
# For each of 16, 32 and 64 kB, only that mTHP size is enabled, a hog of
# pages that are never all zero is pushed out with MADV_PAGEOUT and read
# back with its contents verified.  The size's own counters must show
# large folios swapped out and in (stats/swpout, stats/swpin), and the bio
# meter on zram0 must stay at 0: every one of them went through zram's
# methods, none became a bio.
. /patchkit/lib.sh
require_zram
require_bio_meter
THP=/sys/kernel/mm/transparent_hugepage
[ -d $THP/hugepages-64kB ] || skip "no $THP/hugepages-64kB: no mTHP on this kernel/architecture"
[ -r $THP/hugepages-64kB/stats/swpin ] || skip "no per-size stats/swpin: large folio swap-in is not counted on this kernel"
zram_up "$(zram_default_size)" "$(zram_pick_alg lz4 lzo-rle lzo zstd)"
saved=""
for d in $THP/hugepages-*kB; do
	saved="$saved ${d##*/}=$(sed -n 's/.*\[\([a-z]*\)\].*/\1/p' "$d/enabled")"
	echo never > "$d/enabled"
done
restore() {
	for kv in $saved; do echo "${kv#*=}" > "$THP/${kv%%=*}/enabled"; done
}
mb=$(( $(meminfo_mb MemAvailable) / 4 ))
status=0
for kb in 16 32 64; do
	d=$THP/hugepages-${kb}kB
	[ -d "$d" ] || { restore; fail "no $d"; }
	echo always > "$d/enabled"
	o0=$(cat "$d/stats/swpout") i0=$(cat "$d/stats/swpin")
	bio_meter_on zram0
	hog -m "$mb" -p 1 -k scr -s $((80 + kb)) -o -x "m$kb"
	rc=$?
	bytes=$(bio_meter_bytes)
	bio_meter_off zram0
	echo never > "$d/enabled"
	o=$(( $(cat "$d/stats/swpout") - o0 )) i=$(( $(cat "$d/stats/swpin") - i0 ))
	fig "mthp.${kb}kB.swpout" "$o"
	fig "mthp.${kb}kB.swpin" "$i"
	fig "mthp.${kb}kB.bio_bytes" "$bytes"
	if [ $rc != 0 ]; then
		status=1
	elif [ "$o" -le 0 ]; then
		detail "${kb} kB: no large folio was swapped out (stats/swpout did not grow)"; status=1
	elif [ "$i" -le 0 ]; then
		detail "${kb} kB: no large folio was swapped in whole (stats/swpin did not grow)"; status=1
	elif [ "$bytes" != 0 ]; then
		detail "${kb} kB: $bytes bytes of bios reached zram0: large folios did not go through zram's swap_ops"; status=1
	fi
done
restore
exit $status
