#!/usr/bin/env bash
# Installs and builds whatever tzstack still lacks on a Debian 12 machine:
# Debian packages (DPDK, compiler, network tools), npm dependencies, the
# DPDK shim (native/pmd-shim) and the TypeScript build (dist/).
# Idempotent: a second run does nothing and prints one "ok: ..." line per step.
# Installing Debian packages needs root; everything else does not.
set -euo pipefail
cd "$(dirname "$0")/.."

# Several test runs may start at once: one setup at a time.
exec 9>"${TMPDIR:-/tmp}/tzstack-setup.$(id -u).lock"
flock 9

PACKAGES=(dpdk libdpdk-dev pkg-config build-essential iproute2 ethtool iputils-ping curl wrk bind9-dnsutils
  netcat-openbsd iperf3 python3-scapy tshark liblwip-dev valgrind nmap)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ---- Debian packages ----
missing=()
for p in "${PACKAGES[@]}"; do
  if installed "$p"; then echo "ok: $p"; else missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "error: run this as root (sudo bash scripts/setup.sh) to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark would otherwise ask whether non-root users may capture.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  echo "install: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do
    installed "$p" || { echo "error: $p did not install" >&2; exit 1; }
  done
fi

# ---- Node ----
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: Node.js 20 (node and npm) is required and not on PATH" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js >= 20 is required, found $(node --version)" >&2
  exit 1
fi

# ---- npm dependencies ----
# npm writes node_modules/.package-lock.json on every install: older than the
# lock file (or absent) means the tree is stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
else
  echo "ok: npm dependencies"
fi

# ---- the DPDK shim ----
so=native/pmd-shim/libtzshim.so
stale_shim=0
if [ ! -f "$so" ]; then
  stale_shim=1
else
  for f in native/pmd-shim/*.c native/pmd-shim/*.h native/pmd-shim/Makefile; do
    [ "$f" -nt "$so" ] && stale_shim=1
  done
fi
if [ $stale_shim = 1 ]; then
  echo "build: shim"
  make -s -C native/pmd-shim
else
  echo "ok: shim"
fi

# ---- the lwIP benchmark peer (bench/lwip; the bench also builds it when missing) ----
if make -s -q -C bench/lwip 2>/dev/null; then
  echo "ok: lwIP bench harness"
else
  echo "build: lwIP bench harness"
  make -s -C bench/lwip
fi

# ---- TypeScript ----
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src test bench tsconfig.json package.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  echo "build: typescript"
  # Stamp the start time: a source edited during the build makes the next run rebuild.
  mkdir -p dist
  touch "$stamp.new"
  npx tsc -p tsconfig.json
  mv "$stamp.new" "$stamp"
else
  echo "ok: typescript"
fi
