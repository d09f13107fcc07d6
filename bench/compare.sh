#!/usr/bin/env bash
# The peers and our benchmarks side by side, in one run (docs/ARCHITECTURE.md §6). JSON lines on stdout.
# usage: [WORM_PEERS=path/to/compare.sh] bench/compare.sh [ops=20000] [concurrency=64]
# The peers' harness (etcd, ZooKeeper, NATS JetStream) is not part of this repository: the benchmark
# machine provides it (README.md, "Benchmarks"); WORM_PEERS names its compare.sh. Without it, only ours run.
set -euo pipefail
PEERS=${WORM_PEERS:-}
[ -z "$PEERS" ] || PEERS=$(realpath -m -- "$PEERS")   # relative to where it was given
cd "$(dirname "$0")/.."
N=${1:-20000}; C=${2:-64}
if [ -z "$PEERS" ]; then
  echo '{"note":"peers skipped: set WORM_PEERS to the peers harness compare.sh (README.md, Benchmarks)"}'
elif [ ! -x "$PEERS" ]; then
  echo "bench/compare.sh: WORM_PEERS=$PEERS is not an executable file" >&2
  exit 2
else
  bash "$PEERS" "$N" "$C"
fi
npx tsx bench/wor.ts --n "$N" --concurrency "$C"
npx tsx bench/log.ts --n "$N" --concurrency "$C"
npx tsx bench/smr.ts --n "$N" --concurrency "$C"
npx tsx bench/kv.ts --n "$N" --concurrency "$C"
# The KV's two partitions served by one process (`worm kv serve` of both): its nodes share one client
# to the acceptors, so the appends of a turn reach each acceptor in one message and one synced write.
npx tsx bench/kv.ts --n "$N" --concurrency "$C" --node-processes 1
# The KV as one partition (one log, as etcd and ZooKeeper have one): on a small machine every message
# costs, and two partitions split each client's requests of a tick into two smaller batches.
npx tsx bench/kv.ts --n "$N" --concurrency "$C" --partitions 1 --only put,get,cas
# LogPlayer delivery delay at 10K entries/s and the max sustained rate (issue 13), then its peer in the
# same shape: JetStream delivering the same entries exactly once to two shard processes (needs WORM_PEERS).
# WORM_LOGPLAYER_FLAGS (e.g. "--seconds 2 --sweep false") goes to both.
read -ra LP <<<"${WORM_LOGPLAYER_FLAGS:-}"
npx tsx bench/logplayer.ts "${LP[@]}"
[ -z "$PEERS" ] || WORM_PEERS="$PEERS" node_modules/.bin/node bench/peers/nats-delivery.mjs "${LP[@]}"
