#!/usr/bin/env bash
# Kept for the figures in README.md that name it: bench/callgrind.sh --harness rpc.
exec bash "$(dirname "$0")/callgrind.sh" --harness rpc "$@"
