#!/bin/sh
# The kernel tree's own tools/testing/selftests/zram.
. /patchkit/lib.sh
require_zram
[ -x /selftests/zram/zram.sh ] || fail "/selftests/zram/zram.sh is missing from the image"
rm -rf /tmp/selftests-zram
cp -r /selftests/zram /tmp/selftests-zram
cd /tmp/selftests-zram || fail "cannot enter /tmp/selftests-zram"
set -o pipefail
./zram.sh 2>&1 | tee out.log
rc=$?
[ $rc = 4 ] && skip "selftests/zram skipped itself: $(tail -n 1 out.log)"
fig selftests.exit_status "$rc"
grep -q 'FAIL' out.log && fail "selftests/zram reported: $(grep FAIL out.log | head -n 3 | tr '\n' ';')"
grep -q 'zram01 : \[PASS\]' out.log || fail "selftests/zram: zram01 did not report PASS"
grep -q 'zram02 : \[PASS\]' out.log || fail "selftests/zram: zram02 did not report PASS"
[ $rc = 0 ] || fail "selftests/zram exited with status $rc"
