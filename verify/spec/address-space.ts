/**
 * The address-space spec: many spaces of write-once registers plus monotone trim marks
 * (docs/ARCHITECTURE.md §3.1). Registers are independent except for trims, so a history partitions per address:
 * a `trim(space, below)` becomes, on each address of that space below the mark that the history
 * touches, a trim of unknown outcome over its interval (a trim in flight is visible at some
 * acceptors only, so operations may or may not answer `trimmed`) and, if it returned ok, an instant
 * definite trim at its return. Each address may see the trim at its own point: weaker than an atomic
 * trim, which is the price of partitioning and of trims being garbage collection, not data. `addressSpaceSpec` is the
 * unpartitioned form over a fixed set of addresses, used to cross-check the partitioned one.
 */
import type { Operation } from "../history/history.ts";
import { type Partition, type Spec, type Verdict, type CheckOptions, checkPartitions } from "../history/linearizability.ts";
import { type RegisterInput, type RegisterOutput, type RegisterState, registerSpec, registerStep } from "./register.ts";

export interface Address {
  readonly space: string;
  readonly index: number;
}

export type SpaceInput =
  | { readonly kind: "register"; readonly at: Address; readonly op: Exclude<RegisterInput, { kind: "trim" }> }
  | { readonly kind: "trim"; readonly space: string; readonly below: number };

/** Register operations answer a `RegisterOutput`; a trim answers `{ kind: "ok" }`. */
export type SpaceOutput = RegisterOutput;

export const addressKey = (a: Address): string => `${a.space}[${a.index}]`;

/** Split a history into per-address register histories. */
export function partitionByAddress(ops: readonly Operation<SpaceInput, SpaceOutput>[]): Partition<RegisterInput, RegisterOutput>[] {
  const parts = new Map<string, { at: Address; ops: Operation<RegisterInput, RegisterOutput>[] }>();
  for (const o of ops) {
    if (o.input.kind !== "register") continue;
    const k = addressKey(o.input.at);
    let p = parts.get(k);
    if (!p) parts.set(k, (p = { at: o.input.at, ops: [] }));
    p.ops.push({ ...o, input: o.input.op });
  }
  const trims = ops.filter((o) => o.input.kind === "trim");
  for (const t of trims) {
    const input = t.input as Extract<SpaceInput, { kind: "trim" }>;
    for (const p of parts.values()) {
      if (p.at.space !== input.space || p.at.index >= input.below) continue;
      // While a trim is in flight, its mark may be seen at some acceptors and not at others: over
      // [call, ret] it is a trim of unknown outcome. Once it returned ok it holds everywhere: an
      // instant "trim ok" at its return.
      p.ops.push({ ...t, input: { kind: "trim" }, output: undefined });
      if (t.output !== undefined) p.ops.push({ ...t, input: { kind: "trim" }, call: t.ret });
    }
  }
  return [...parts].map(([key, p]) => ({ key, ops: p.ops.sort((a, b) => a.call - b.call) }));
}

/** Check a whole address-space history, one address at a time. */
export function checkAddressSpace(ops: readonly Operation<SpaceInput, SpaceOutput>[], options: CheckOptions = {}): Verdict {
  return checkPartitions(registerSpec, partitionByAddress(ops), options);
}

/** The unpartitioned spec over a fixed set of addresses (trims are atomic here). */
export function addressSpaceSpec(addresses: readonly Address[]): Spec<readonly RegisterState[], SpaceInput, SpaceOutput> {
  const index = new Map(addresses.map((a, i) => [addressKey(a), i]));
  return {
    init: () => addresses.map(() => registerSpec.init()),
    step(state, input, output) {
      if (input.kind === "register") {
        const i = index.get(addressKey(input.at));
        if (i === undefined) return undefined;
        const next = registerStep(state[i]!, input.op, output);
        if (next === undefined) return undefined;
        const out = [...state];
        out[i] = next;
        return out;
      }
      const out = [...state];
      for (let i = 0; i < addresses.length; i++) {
        const a = addresses[i]!;
        if (a.space !== input.space || a.index >= input.below) continue;
        const next = registerStep(state[i]!, { kind: "trim" }, output);
        if (next === undefined) return undefined;
        out[i] = next;
      }
      return out;
    },
    key: (state) => state.map((s) => registerSpec.key(s)).join("|"),
  };
}
