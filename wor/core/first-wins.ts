/**
 * Write-once by the first writer, as an app step sequence (docs/ARCHITECTURE.md §3.4): capture one
 * register, then write `value` there unless the capture found a value already. The configuration
 * chain (./configuration.ts) and the KV's map chain (apps/kv/node/kv-map.ts) choose their entries so.
 */
import type { WorFailure } from "./results.ts";
import { type RegGen, run } from "./steps.ts";

/** Ours chosen; another value found there (chosen); not settled (preempted, trimmed: try again); or failed. */
export type FirstWins =
  | { readonly kind: "won" }
  | { readonly kind: "found"; readonly value: Uint8Array }
  | { readonly kind: "unsettled"; readonly why: string }
  | { readonly kind: "failed"; readonly failure: WorFailure };

export function* firstWins(space: string, index: number, value: Uint8Array): RegGen<FirstWins> {
  const got = yield* run({ kind: "capture", space, from: index, to: index + 1 });
  if (!got.ok) return { kind: "failed", failure: got.failure };
  if (got.value._tag !== "Captured") return { kind: "unsettled", why: got.value._tag };
  const found = got.value.written.get(index);
  if (found) return { kind: "found", value: found };
  const w = yield* run({ kind: "write", capture: got.value.capture, entries: [{ index, value }] });
  if (!w.ok) return { kind: "failed", failure: w.failure };
  const r = w.value.get(index)!;
  return r._tag === "Ok" ? { kind: "won" } : r._tag === "AlreadyWritten" ? { kind: "found", value: r.value } : { kind: "unsettled", why: r._tag };
}
