#!/usr/bin/env bash
# Runs every test: installs whatever is missing first (DPDK from Debian,
# npm dependencies, the shim, the TypeScript build), then mocha over dist/.
# Extra arguments go to mocha (e.g. --grep tcp).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Interop tests create namespaces and DPDK ports: they need root.
if [ "$(id -u)" != 0 ]; then
  echo "note: not root; tests that need DPDK or network namespaces will be skipped" >&2
fi
exec npx mocha "$@"
