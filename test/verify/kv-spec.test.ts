/**
 * The KV spec (verify/spec/kv.ts) as a linearizability checker: it passes concurrent histories that
 * have a legal order, and catches the anomalies a KV must not show: a stale read, two
 * compare-and-sets both winning from one value, a read that sees half of a transaction, a scan that
 * misses a key it must see, a write whose outcome was unknown taking effect twice; a transaction
 * across partitions (answered without the values before it) that committed against its compare, or
 * seen half.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Operation } from "../../verify/history/history.ts";
import { type KvInput, type KvOutput, checkKvHistory } from "../../verify/spec/kv.ts";

type Op = Operation<KvInput, KvOutput>;
let next = 0;
/** An operation of `client` from `call` to `ret` (Infinity and no output: its outcome unknown). */
const op = (client: number, call: number, ret: number, input: KvInput, output?: KvOutput): Op => ({ id: next++, client, call, ret, input, output });

describe("the KV spec", () => {
  it("passes concurrent histories that have a legal order", () => {
    const h = [
      op(0, 0, 10, { op: "put", key: "a", value: "1" }, { value: null }),
      // Concurrent with the put: may see either.
      op(1, 1, 5, { op: "get", key: "a" }, { value: "1" }),
      op(2, 2, 6, { op: "get", key: "a" }, { value: null }),
      op(1, 11, 20, { op: "txn", expect: [["a", "1"]], write: [["a", "2"], ["b", "x"]] }, { succeeded: true, before: ["1", null] }),
      op(2, 21, 22, { op: "range", from: "a", to: "c" }, { found: [["a", "2"], ["b", "x"]] }),
      // A put whose outcome is unknown may have happened (after its call) or not.
      op(3, 23, Number.POSITIVE_INFINITY, { op: "put", key: "c", value: "9" }),
      op(2, 30, 31, { op: "get", key: "c" }, { value: "9" }),
      op(0, 40, 41, { op: "delete", key: "b" }, { value: "x" }),
      op(0, 42, 43, { op: "range", from: "a", to: "zz" }, { found: [["a", "2"], ["c", "9"]] }),
    ];
    const v = checkKvHistory(h);
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.partitions, 1, "the range scans tie every key together");
  });

  it("checks independent keys apart", () => {
    const v = checkKvHistory([op(0, 0, 1, { op: "put", key: "a", value: "1" }, { value: null }), op(1, 0, 1, { op: "put", key: "b", value: "1" }, { value: null })]);
    assert.ok(v.ok);
    assert.equal(v.partitions, 2);
  });

  it("takes a transaction's answer without the values before it (across partitions): only whether it committed", () => {
    const h = [
      op(0, 0, 1, { op: "put", key: "a", value: "1" }, { value: null }),
      op(1, 2, 3, { op: "txn", expect: [["a", "1"]], write: [["a", "2"], ["z", "2"]] }, { succeeded: true }),
      op(2, 4, 5, { op: "get", key: "z" }, { value: "2" }),
    ];
    assert.ok(checkKvHistory(h).ok);
  });

  const refused: [string, Op[]][] = [
    [
      "a transaction across partitions said committed though its compare could not hold",
      [
        op(0, 0, 1, { op: "put", key: "a", value: "1" }, { value: null }),
        op(1, 2, 3, { op: "txn", expect: [["a", "0"]], write: [["a", "2"], ["z", "2"]] }, { succeeded: true }),
      ],
    ],
    [
      "a read that sees half of a transaction across partitions",
      [
        op(0, 0, 1, { op: "txn", expect: [], write: [["a", "1"], ["z", "1"]] }, { succeeded: true }),
        op(1, 2, 3, { op: "get", key: "a" }, { value: "1" }),
        op(1, 4, 5, { op: "get", key: "z" }, { value: null }),
      ],
    ],
    ["a stale read", [op(0, 0, 1, { op: "put", key: "a", value: "1" }, { value: null }), op(1, 2, 3, { op: "get", key: "a" }, { value: null })]],
    [
      "two compare-and-sets winning from one value",
      [
        op(0, 0, 1, { op: "put", key: "a", value: "1" }, { value: null }),
        op(1, 2, 5, { op: "txn", expect: [["a", "1"]], write: [["a", "2"]] }, { succeeded: true, before: ["1"] }),
        op(2, 2, 5, { op: "txn", expect: [["a", "1"]], write: [["a", "3"]] }, { succeeded: true, before: ["1"] }),
      ],
    ],
    [
      "a scan that sees half of a transaction",
      [
        op(0, 0, 10, { op: "txn", expect: [], write: [["a", "1"], ["b", "1"]] }, { succeeded: true, before: [null, null] }),
        op(1, 1, 9, { op: "range", from: "a", to: "c" }, { found: [["a", "1"]] }),
      ],
    ],
    [
      "a scan that misses a key written before it began",
      [op(0, 0, 1, { op: "put", key: "b", value: "1" }, { value: null }), op(0, 2, 3, { op: "put", key: "a", value: "1" }, { value: null }), op(1, 4, 5, { op: "range", from: "a", to: "c" }, { found: [["a", "1"]] })],
    ],
    [
      "a write of unknown outcome taking effect twice",
      [
        op(0, 0, Number.POSITIVE_INFINITY, { op: "put", key: "a", value: "1" }),
        op(1, 1, 2, { op: "get", key: "a" }, { value: "1" }),
        op(1, 3, 4, { op: "put", key: "a", value: "2" }, { value: "1" }),
        op(1, 5, 6, { op: "get", key: "a" }, { value: "1" }),
      ],
    ],
    ["a scan out of key order", [op(0, 0, 1, { op: "put", key: "b", value: "1" }, { value: null }), op(0, 2, 3, { op: "put", key: "a", value: "1" }, { value: null }), op(1, 4, 5, { op: "range", from: "a", to: "c" }, { found: [["b", "1"], ["a", "1"]] })]],
    ["a failed transaction that wrote", [op(0, 0, 1, { op: "txn", expect: [["a", "1"]], write: [["a", "2"]] }, { succeeded: false, before: [] }), op(0, 2, 3, { op: "get", key: "a" }, { value: "2" })]],
  ];
  for (const [what, h] of refused) {
    it(`catches ${what}`, () => {
      const v = checkKvHistory(h);
      assert.equal(v.ok, false, what);
    });
  }
});
