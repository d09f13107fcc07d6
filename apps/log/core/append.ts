/**
 * Append (docs/ARCHITECTURE.md §4.1): token from the sequencer + one write round. Exactly once per idempotency
 * key: an attempt whose outcome is unknown (preempted, timed out) is settled by capturing its slot
 * (which finishes whatever is there, or lets us finish our own entry) before any new attempt, so no
 * key is ever chosen at two slots. A slot that a hole filler or a new sequencer filled sends us back
 * for a new token.
 */
import { bytesEqual } from "../../../verify/runtime/bytes.ts";
import type { Ballot } from "../../../paxos/ballot.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { FILL_BYTES, type IdempotencyKey, decodeSlot, encodeEntry, sameKey } from "./entry.ts";
import { sleep } from "../../../wor/core/steps.ts";
import { type LogGen, type LogResult, type TokenAsk, isTransient, logFail, logOk, run } from "./steps.ts";
import type { Token } from "./tokens.ts";

export interface AppendConfig {
  readonly log: string;
  readonly retryMs: number;
  /** Tokens one append may use before it gives up. */
  readonly appendAttemptsMax: number;
  /** Rounds one settle may take (each a capture, maybe a write) before the outcome stays unknown. */
  readonly settleAttemptsMax: number;
}

export const APPEND_DEFAULTS = { retryMs: 20, appendAttemptsMax: 64, settleAttemptsMax: 64 } as const;

export interface AppendInput {
  readonly key: IdempotencyKey;
  readonly streams: readonly string[];
  readonly payload: Uint8Array;
  /** A retry that knows no earlier attempt of its key is below this slot (e.g. the tail read before
   *  the first attempt): refused if the sequencer's dedupe window starts above it. */
  readonly since?: number;
}

export interface Appended {
  readonly slot: number;
  /** An earlier append with the same key had already landed at `slot`. */
  readonly duplicate: boolean;
}

const isOurs = (bytes: Uint8Array, key: IdempotencyKey): boolean => {
  const v = decodeSlot(bytes);
  return !("_tag" in v) && v.kind === "entry" && sameKey(v.entry.key, key);
};

export function* append(cfg: AppendConfig, input: AppendInput): LogGen<LogResult<Appended>> {
  let preemptedBy: Ballot | undefined;
  /** Our last token's slot held another value: someone captured over the sequencer. */
  let taken: number | undefined;
  const settled = new Set<number>();
  for (let attempt = 0; attempt < cfg.appendAttemptsMax; attempt++) {
    const ask: TokenAsk = {
      key: input.key,
      streams: input.streams,
      ...(preemptedBy ? { preemptedBy } : {}),
      ...(input.since !== undefined ? { since: input.since } : {}),
      ...(taken !== undefined ? { taken } : {}),
    };
    const g = yield* run({ kind: "tokens", log: cfg.log, request: { asks: [ask] } });
    if (!g.ok) {
      // `contended`: the sequencer was deposed (it gave way to another owner of the log) and will
      // grant nothing again; its owner decides what to do.
      if (!isTransient(g.failure.code) || g.failure.code === "contended") return g;
      yield* sleep(cfg.retryMs);
      continue;
    }
    const t = g.value.tokens[0]!;
    for (const prior of t.priors) {
      if (settled.has(prior)) continue;
      // This key was issued this slot before (a retry, maybe from a restarted client, or a grant
      // that never reached us): settle it for good; if the key landed there, we are done.
      const p = yield* settle(cfg, prior, input.key, FILL_BYTES);
      if (!p.ok) return p;
      settled.add(prior);
      if (p.value) {
        yield* run({ kind: "write", capture: t.capture, entries: [{ index: t.slot, value: FILL_BYTES }] });
        return logOk({ slot: prior, duplicate: true });
      }
    }
    const value = encodeEntry({ key: input.key, streams: input.streams.map((tag, i) => ({ tag, prev: t.prev[i]! })), payload: input.payload });
    const w = yield* write(t, value);
    if (w === "ok") return logOk({ slot: t.slot, duplicate: false });
    taken = w === "theirs" ? t.slot : undefined;
    if (w !== "theirs" && !planted("appendWithoutSettle")) {
      if (w !== "unknown") preemptedBy = w;
      const s = yield* settle(cfg, t.slot, input.key, value);
      if (!s.ok) return s;
      if (s.value) return logOk({ slot: t.slot, duplicate: false });
    }
    settled.add(t.slot);
  }
  return logFail("exhausted", `append of ${input.key.client}#${input.key.seq}: ${cfg.appendAttemptsMax} tokens used, every slot taken`);
}

/** One write round with a token: landed, the slot holds someone else's value, or unknown. */
function* write(t: Token, value: Uint8Array): LogGen<"ok" | "theirs" | "unknown" | Ballot> {
  const w = yield* run({ kind: "write", capture: t.capture, entries: [{ index: t.slot, value }] });
  if (!w.ok) return "unknown";
  const r = w.value.get(t.slot)!;
  if (r._tag === "Ok") return "ok";
  if (r._tag === "AlreadyWritten") return bytesEqual(r.value, value) ? "ok" : "theirs";
  if (r._tag === "Preempted") return r.by;
  return "unknown";
}

/** Decide slot `slot` for good: capture it (finishing whatever is there) or, if it is empty, write
 *  `value` there under our own capture. `true` when the slot holds this key's entry. */
export function* settle(cfg: AppendConfig, slot: number, key: IdempotencyKey, value: Uint8Array): LogGen<LogResult<boolean>> {
  let last = "no attempt";
  for (let attempt = 0; attempt < cfg.settleAttemptsMax; attempt++) {
    if (attempt > 0) yield* sleep(cfg.retryMs);
    const c = yield* run({ kind: "capture", space: cfg.log, from: slot, to: slot + 1 });
    if (!c.ok) {
      if (!isTransient(c.failure.code)) return c;
      last = c.failure.message;
      continue;
    }
    if (c.value._tag === "Trimmed") return logFail("trimmed", `slot ${slot} was trimmed before its append settled: outcome unknown`);
    if (c.value._tag === "Preempted") {
      last = "preempted";
      continue;
    }
    const found = c.value.written.get(slot);
    if (found) return logOk(isOurs(found, key));
    const w = yield* run({ kind: "write", capture: c.value.capture, entries: [{ index: slot, value }] });
    if (!w.ok) {
      last = w.failure.message;
      continue;
    }
    const r = w.value.get(slot)!;
    if (r._tag === "Ok") return logOk(value !== FILL_BYTES);
    if (r._tag === "AlreadyWritten") return logOk(isOurs(r.value, key));
    if (r._tag === "Trimmed") return logFail("trimmed", `slot ${slot} was trimmed before its append settled: outcome unknown`);
    last = "preempted";
  }
  return logFail("timeout", `append of ${key.client}#${key.seq} at slot ${slot}: outcome unknown after ${cfg.settleAttemptsMax} settle rounds (${last}); append again with the same key`);
}
