/**
 * The SMR's example map as a sequential spec (docs/ARCHITECTURE.md §4.2, apps/smr/core/map-machine.ts),
 * for history checking. `put` and `delete` return the value before them and `get` the value now
 * (values are strings; `null`: none), so each key is an independent register and a history
 * partitions per key. A command whose outcome is unknown may take effect at any point after its
 * call, or never; retried with its idempotency key it takes effect once, so one operation.
 */
import type { Operation } from "../history/history.ts";
import { type CheckOptions, type Spec, type Verdict, checkPartitions } from "../history/linearizability.ts";

export type MapInput = { readonly op: "put"; readonly key: string; readonly value: string } | { readonly op: "delete"; readonly key: string } | { readonly op: "get"; readonly key: string };

/** The value before a put or delete, or at a get. */
export interface MapOutput {
  readonly value: string | null;
}

const keySpec: Spec<string | null, MapInput, MapOutput> = {
  init: () => null,
  step(state, input, output) {
    if (output !== undefined && output.value !== state) return undefined;
    if (input.op === "get") return state;
    return input.op === "put" ? input.value : null;
  },
  key: (s) => (s === null ? "-" : `=${s}`),
};

/** Check a map history, one key at a time. */
export function checkMapHistory(ops: readonly Operation<MapInput, MapOutput>[], options: CheckOptions = {}): Verdict {
  const byKey = new Map<string, Operation<MapInput, MapOutput>[]>();
  for (const o of ops) {
    const list = byKey.get(o.input.key);
    if (list) list.push(o);
    else byKey.set(o.input.key, [o]);
  }
  const partitions = [...byKey].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, p]) => ({ key: `key ${key}`, ops: p }));
  return checkPartitions(keySpec, partitions, options);
}
