#!/usr/bin/env bash
# Run a public packetdrill suite's scripts through `tzstack drill` and print
# pass/fail/skip counts with failures grouped by first mismatch.
#
#   scripts/drill-suite.sh linux   /tmp/packetdrill/gtests/net/tcp   [--ip6|--mapped] [tzstack drill flags...]
#   scripts/drill-suite.sh freebsd /tmp/tcp-testsuite                 [--ip6|--mapped] [--verbose ...]
#
# The suites are not part of this repository (their text is theirs); get them with
#   git clone https://github.com/google/packetdrill          (gtests/net/tcp)
#   git clone https://github.com/freebsd-net/tcp-testsuite
#
# Which scripts, in which family (packetdrill's --ip_version):
#   (default)  IPv4 scripts: every .pkt not named *ipv6* and not declaring --ip_version=ipv6.
#   --ip6      IPv6 scripts, run with --ip_version=ipv6. Linux: every .pkt not ending in v4.pkt
#              (google/packetdrill's run_all.py runs each script in all three families; its IPv6
#              run adds --mtu=1520, so MSS 1460 holds, and its addresses, which the linux profile
#              has). FreeBSD: the *-ipv6.pkt scripts (each declares --ip_version=ipv6).
#   --mapped   The IPv4 scripts with --ip_version=ipv4-mapped-ipv6 (AF_INET6 sockets, IPv4 packets).
# Set DRILL_LIST=1 to print a line per script instead of the grouped summary.
set -euo pipefail
profile=${1:?usage: drill-suite.sh linux|freebsd DIR [--ip6|--mapped] [flags]}
dir=${2:?usage: drill-suite.sh linux|freebsd DIR [--ip6|--mapped] [flags]}
shift 2
family=ipv4
case "${1:-}" in
  --ip6) family=ipv6; shift ;;
  --mapped) family=ipv4-mapped-ipv6; shift ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
extra=()
if [ "$family" = ipv6 ]; then
  if [ "$profile" = linux ]; then
    mapfile -t files < <(find "$dir" -name '*.pkt' ! -name '*v4.pkt' | sort)
    extra=(--set mtu=1520)
  else
    mapfile -t files < <(find "$dir" -name '*.pkt' -print0 | xargs -0 grep -l -- '--ip_version=ipv6' | sort)
  fi
  extra+=(--set ip_version=ipv6)
else
  mapfile -t files < <(find "$dir" -name '*.pkt' ! -name '*ipv6*' -print0 | xargs -0 grep -L -- '--ip_version=ipv6' | sort)
  [ "$family" = ipv4-mapped-ipv6 ] && extra=(--set ip_version=ipv4-mapped-ipv6)
fi
echo "${#files[@]} scripts under $dir as $family (profile $profile)" >&2
mode=--summary
[ "${DRILL_LIST:-0}" = 1 ] && mode=
# exit status 1 only means some script failed: the counts are the result
node "$root/dist/src/cli/main.js" drill --profile "$profile" $mode "${extra[@]}" "$@" "${files[@]}" || [ $? -eq 1 ]
