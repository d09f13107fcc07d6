#!/usr/bin/env bash
# Regenerates the ts-proto output into a temp dir and diffs it against the committed proto/gen.
# Exits non-zero (with the diff) when they differ. Runs from any cwd.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/node_modules/.bin"
[[ -x "$bin/buf" && -x "$bin/protoc-gen-ts_proto" ]] || { echo "proto/check-generated.sh: buf or protoc-gen-ts_proto missing in $bin (run npm ci)" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Same template as proto/buf.gen.yaml, writing to the temp dir instead of proto/gen.
sed "s#out: proto/gen#out: $tmp/gen#; s#local: node_modules/.bin/#local: $bin/#" "$repo/proto/buf.gen.yaml" > "$tmp/buf.gen.yaml"

cd "$repo"
PATH="$bin:$PATH" "$bin/buf" lint proto
PATH="$bin:$PATH" "$bin/buf" generate proto --template "$tmp/buf.gen.yaml"

if ! diff -ru "$repo/proto/gen" "$tmp/gen"; then
  echo "proto/check-generated.sh: proto/gen is stale; regenerate with: npx buf generate proto --template proto/buf.gen.yaml" >&2
  exit 1
fi
echo "proto/gen is up to date"
