/**
 * The shared log's sequential spec for history checking (docs/ARCHITECTURE.md §4.1), reduced to one
 * write-once register per slot (verify/spec/register.ts), so a history partitions per slot:
 *  - an acknowledged `append(key) → slot s` is a write of `key` to register s that returned ok;
 *  - a settled read of slot s (`entry key` or `fill`) is a read that returned that value;
 *  - a `fill(s)` is a write of the fill marker that returned what the slot settled to (its own fill,
 *    or the entry a slow appender got in first);
 *  - an append whose outcome is unknown is an unknown-outcome write of its key into the partition
 *    of the slot where that key was observed (if it was observed at all);
 *  - fills are also written where no history operation shows it (a sequencer's seal, a reader's
 *    hole timeout, an appender settling an old token): a slot seen holding a fill gets an
 *    unknown-outcome write of the fill marker invoked at time 0.
 * What the reduction cannot see per slot is checked across slots here: a key observed at two slots
 * (stored twice), and an append acknowledged at a slot that shows another key.
 */
import type { Operation } from "../history/history.ts";
import { type CheckOptions, type Partition, type Verdict, checkPartitions } from "../history/linearizability.ts";
import { type RegisterInput, type RegisterOutput, registerSpec } from "./register.ts";

export type LogInput =
  | { readonly kind: "append"; readonly key: string }
  | { readonly kind: "read"; readonly slot: number }
  | { readonly kind: "fill"; readonly slot: number };

export type LogOutput =
  /** append: acknowledged at `slot`. */
  | { readonly kind: "appended"; readonly slot: number }
  /** read / fill: the slot holds the entry with this key. */
  | { readonly kind: "entry"; readonly key: string }
  /** read / fill: the slot holds a fill marker. */
  | { readonly kind: "fill" };

/** The register value standing for a fill marker (keys look like `client#seq`). */
const FILL_VALUE = "<fill>";

const registerValue = (o: Exclude<LogOutput, { kind: "appended" }>): string => (o.kind === "fill" ? FILL_VALUE : o.key);

export interface LogPartitions {
  readonly partitions: Partition<RegisterInput, RegisterOutput>[];
  /** Cross-slot violations: a key observed at two slots. */
  readonly violations: string[];
}

/** Split a log history into per-slot register histories. */
export function partitionLog(ops: readonly Operation<LogInput, LogOutput>[]): LogPartitions {
  const parts = new Map<number, Operation<RegisterInput, RegisterOutput>[]>();
  const add = (slot: number, op: Operation<RegisterInput, RegisterOutput>) => {
    const p = parts.get(slot);
    if (p) p.push(op);
    else parts.set(slot, [op]);
  };
  const violations: string[] = [];
  const keySlot = new Map<string, number>();
  const observe = (key: string, slot: number) => {
    const at = keySlot.get(key);
    if (at === undefined) keySlot.set(key, slot);
    else if (at !== slot) violations.push(`key ${key} observed at two slots: ${Math.min(at, slot)} and ${Math.max(at, slot)}`);
  };
  const unknownAppends: Operation<LogInput, LogOutput>[] = [];
  for (const o of ops) {
    const i = o.input;
    const out = o.output;
    if (i.kind === "append") {
      if (out === undefined) {
        unknownAppends.push(o);
        continue;
      }
      if (out.kind !== "appended") {
        violations.push(`append op${o.id} of ${i.key} answered ${out.kind}`);
        continue;
      }
      observe(i.key, out.slot);
      add(out.slot, { ...o, input: { kind: "write", value: i.key }, output: { kind: "ok" } });
      continue;
    }
    if (out?.kind === "appended") {
      violations.push(`${i.kind} op${o.id} of slot ${i.slot} answered appended`);
      continue;
    }
    if (out?.kind === "entry") observe(out.key, i.slot);
    if (i.kind === "read") {
      // A read whose answer is unknown says nothing.
      if (out !== undefined) add(i.slot, { ...o, input: { kind: "read" }, output: { kind: "written", value: registerValue(out) } });
      continue;
    }
    const output: RegisterOutput | undefined = out === undefined ? undefined : out.kind === "fill" ? { kind: "ok" } : { kind: "alreadyWritten", value: out.key };
    add(i.slot, { ...o, input: { kind: "write", value: FILL_VALUE }, output });
  }
  for (const o of unknownAppends) {
    const key = (o.input as Extract<LogInput, { kind: "append" }>).key;
    const slot = keySlot.get(key);
    if (slot !== undefined) add(slot, { ...o, input: { kind: "write", value: key }, output: undefined });
  }
  for (const p of parts.values()) {
    if (!p.some((o) => o.output?.kind === "written" && o.output.value === FILL_VALUE)) continue;
    p.push({ id: 0, client: -1, input: { kind: "write", value: FILL_VALUE }, call: 0, ret: Number.POSITIVE_INFINITY, output: undefined });
  }
  const partitions = [...parts]
    .sort(([a], [b]) => a - b)
    .map(([slot, p]) => ({ key: `slot ${slot}`, ops: p.sort((a, b) => a.call - b.call) }));
  return { partitions, violations };
}

export type LogVerdict = { readonly ok: true; readonly verdict: Verdict } | { readonly ok: false; readonly verdict: Verdict; readonly violations: readonly string[] };

/** Check a whole log history: cross-slot violations first, then every slot's register history. */
export function checkLogHistory(ops: readonly Operation<LogInput, LogOutput>[], options: CheckOptions = {}): LogVerdict {
  const { partitions, violations } = partitionLog(ops);
  const verdict = checkPartitions(registerSpec, partitions, options);
  if (!verdict.ok) {
    const ops = partitions.find((p) => p.key === verdict.partition)?.ops ?? [];
    const lines = ops.map((o) => `  op${o.id} p${o.client} [${o.call}, ${o.ret}] ${JSON.stringify(o.input)} → ${JSON.stringify(o.output) ?? "unknown"}`);
    violations.push(`history is not linearizable at ${verdict.partition}: ${JSON.stringify(verdict.verdict)}\n${lines.join("\n")}`);
  }
  return violations.length === 0 ? { ok: true, verdict } : { ok: false, verdict, violations };
}
