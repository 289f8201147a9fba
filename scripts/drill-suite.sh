#!/usr/bin/env bash
# Run a public packetdrill suite's IPv4 scripts through `tzstack drill` and
# print pass/fail/skip counts with failures grouped by first mismatch.
#
#   scripts/drill-suite.sh linux   /tmp/packetdrill/gtests/net/tcp   [tzstack drill flags...]
#   scripts/drill-suite.sh freebsd /tmp/tcp-testsuite                 [--verbose ...]
#
# The suites are not part of this repository (their text is theirs); get them with
#   git clone https://github.com/google/packetdrill          (gtests/net/tcp)
#   git clone https://github.com/freebsd-net/tcp-testsuite
# IPv4 scripts: every .pkt not named *ipv6* and not declaring --ip_version=ipv6.
# Set DRILL_LIST=1 to print a line per script instead of the grouped summary.
set -euo pipefail
profile=${1:?usage: drill-suite.sh linux|freebsd DIR [flags]}
dir=${2:?usage: drill-suite.sh linux|freebsd DIR [flags]}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t files < <(find "$dir" -name '*.pkt' ! -name '*ipv6*' -print0 | xargs -0 grep -L -- '--ip_version=ipv6' | sort)
echo "${#files[@]} IPv4 scripts under $dir (profile $profile)" >&2
mode=--summary
[ "${DRILL_LIST:-0}" = 1 ] && mode=
# exit status 1 only means some script failed: the counts are the result
node "$root/dist/src/cli/main.js" drill --profile "$profile" $mode "$@" "${files[@]}" || [ $? -eq 1 ]
