#!/usr/bin/env bash
# The peers and our benchmarks side by side, in one run (docs/ARCHITECTURE.md §6). JSON lines on stdout.
# usage: bench/compare.sh [ops=20000] [concurrency=64]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}; C=${2:-64}
PEERS=../shared/peers/compare.sh
if [ -x "$PEERS" ]; then bash "$PEERS" "$N" "$C"; else echo '{"note":"peers not found beside the checkout"}'; fi
npx tsx bench/wor.ts --n "$N" --concurrency "$C"
npx tsx bench/log.ts --n "$N" --concurrency "$C"
