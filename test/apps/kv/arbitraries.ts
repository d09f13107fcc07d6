/** Random KV transactions for the property tests (test/apps/kv/*.test.ts): few keys, so they collide. */
import fc from "fast-check";
import { type Compare, type KvOp, type KvTxn, opRange } from "../../../apps/kv/core/commands.ts";
import { compareKeys } from "../../../apps/kv/core/keys.ts";

export const KEYS = ["a", "ab", "b", "b\u00e9", "c", "z", "\u{1F600}", "\uFFFD"] as const;
export const key = fc.constantFrom(...KEYS);
/** Records with a plain prototype, as a decoder makes them. */
const record: typeof fc.record = ((shape: never) => fc.record(shape, { noNullPrototype: true })) as typeof fc.record;
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const value = fc.constantFrom("1", "2", "3", "").map(bytes);

const compare: fc.Arbitrary<Compare> = fc.oneof(
  record({ key, target: fc.constant("value" as const), result: fc.constantFrom("equal", "notEqual", "less", "greater"), value }),
  record({ key, target: fc.constantFrom("version", "createRevision", "modRevision"), result: fc.constantFrom("equal", "notEqual", "less", "greater"), number: fc.nat(6) }),
) as fc.Arbitrary<Compare>;

/** A range [from, to) with from before to. */
const range = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(key, key).filter(([a, b]) => a !== b).map(([a, b]) => (compareKeys(a, b) < 0 ? [a, b] : [b, a])) },
  // From the key space's start, or to its end ("").
  { weight: 1, arbitrary: fc.oneof(key.map((k) => ["", k]), key.map((k) => [k, ""]), fc.constant(["", ""])) },
);

const op: fc.Arbitrary<KvOp> = fc.oneof(
  record({ op: fc.constant("put" as const), key, value }),
  record({ op: fc.constant("delete" as const), key }),
  range.map(([from, to]): KvOp => ({ op: "delete", key: from!, to: to! })),
  record({ op: fc.constant("range" as const), key }),
  fc.tuple(range, fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined })).map(([[from, to], limit]): KvOp => ({ op: "range", key: from!, to: to!, ...(limit !== undefined ? { limit } : {}) })),
);

/** Ops of one branch: no key written twice (the rule `txnProblem` keeps). */
const branch = fc.array(op, { maxLength: 4 }).map((ops) => {
  const written: KvOp[] = [];
  return ops.filter((o) => {
    if (o.op === "range") return true;
    const before = (from: string, to: string | undefined) => to === undefined || compareKeys(from, to) < 0;
    const [x, y] = [opRange(o), written.map(opRange)];
    if (y.some((w) => before(x.from, w.to) && before(w.from, x.to))) return false;
    written.push(o);
    return true;
  });
});

export const txn: fc.Arbitrary<KvTxn> = record({ compares: fc.array(compare, { maxLength: 3 }), success: branch, failure: branch });
