/**
 * The KV as a sequential spec (docs/ARCHITECTURE.md §4.5), for history checking: a map from keys to
 * string values, written apart from apps/kv so that a mistake there is not repeated here. Puts and
 * deletes answer the value before them; gets and range scans what is there; a transaction is
 * "if every key holds its expected value (null: absent) then write these (null: delete)", and
 * answers whether it did and, if it did, the values before its writes. A compare-and-set is a
 * transaction of one key.
 *
 * Keys that no operation ties together are independent, so a history is checked in components:
 * keys a transaction touches together, or a range scan covers, are one component. An operation whose
 * outcome is unknown may take effect at any point after its call, or never.
 */
import type { Operation } from "../history/history.ts";
import { type CheckOptions, type Spec, type Verdict, checkPartitions } from "../history/linearizability.ts";

export type KvInput =
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "range"; readonly from: string; readonly to: string }
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "txn"; readonly expect: readonly (readonly [string, string | null])[]; readonly write: readonly (readonly [string, string | null])[] };

export type KvOutput =
  /** get; put and delete: the value before. */
  | { readonly value: string | null }
  /** range: the keys in [from, to) and their values, in key order. */
  | { readonly found: readonly (readonly [string, string])[] }
  /** txn: whether the writes happened, and the values before them if they did (absent: not
   *  answered, as a transaction across partitions answers only whether it committed). */
  | { readonly succeeded: boolean; readonly before?: readonly (string | null)[] };

type State = ReadonlyMap<string, string>;

/** Keys in UTF-8 byte order, which is code point order. */
const byCodePoint = (a: string, b: string): number => {
  const [x, y] = [[...a], [...b]];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
};
const within = (key: string, from: string, to: string): boolean => byCodePoint(key, from) >= 0 && byCodePoint(key, to) < 0;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const kvSpec: Spec<State, KvInput, KvOutput> = {
  init: () => new Map(),
  step(state, input, output) {
    const write = (changes: readonly (readonly [string, string | null])[]): State => {
      const next = new Map(state);
      for (const [k, v] of changes) {
        if (v === null) next.delete(k);
        else next.set(k, v);
      }
      return next;
    };
    switch (input.op) {
      case "get":
        return output === undefined || same(output, { value: state.get(input.key) ?? null }) ? state : undefined;
      case "range": {
        const found = [...state].filter(([k]) => within(k, input.from, input.to)).sort(([a], [b]) => byCodePoint(a, b));
        return output === undefined || same(output, { found }) ? state : undefined;
      }
      case "put":
      case "delete": {
        if (output !== undefined && !same(output, { value: state.get(input.key) ?? null })) return undefined;
        return write([[input.key, input.op === "put" ? input.value : null]]);
      }
      case "txn": {
        const succeeded = input.expect.every(([k, v]) => (state.get(k) ?? null) === v);
        const answer = { succeeded, before: succeeded ? input.write.map(([k]) => state.get(k) ?? null) : [] };
        if (output !== undefined && !("before" in output && output.before !== undefined ? same(output, answer) : "succeeded" in output && output.succeeded === succeeded)) return undefined;
        return succeeded ? write(input.write) : state;
      }
    }
  },
  key: (s) => JSON.stringify([...s].sort(([a], [b]) => byCodePoint(a, b))),
};

/** The keys an operation touches; a range scan touches every key of the history in its range. */
function keysOf(input: KvInput, all: readonly string[]): string[] {
  switch (input.op) {
    case "range":
      return all.filter((k) => within(k, input.from, input.to));
    case "txn":
      return [...input.expect.map(([k]) => k), ...input.write.map(([k]) => k)];
    default:
      return [input.key];
  }
}

/** Check a KV history, one component of keys at a time. */
export function checkKvHistory(ops: readonly Operation<KvInput, KvOutput>[], options: CheckOptions = {}): Verdict {
  const all = [...new Set(ops.flatMap((o) => (o.input.op === "range" ? [] : keysOf(o.input, []))))];
  // Union-find over the keys: an operation joins every key it touches.
  const parent = new Map(all.map((k) => [k, k]));
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const touches = ops.map((o) => keysOf(o.input, all));
  for (const keys of touches) for (const k of keys.slice(1)) parent.set(root(k), root(keys[0]!));
  const components = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const [i, o] of ops.entries()) {
    // A range scan over no key of the history is a component of its own (it must find nothing).
    const c = touches[i]!.length > 0 ? `keys of ${root(touches[i]![0]!)}` : `range op${o.id}`;
    const list = components.get(c);
    if (list) list.push(o);
    else components.set(c, [o]);
  }
  const partitions = [...components].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, p]) => ({ key, ops: p }));
  return checkPartitions(kvSpec, partitions, options);
}
