/**
 * The KV's pure core (apps/kv/core): key order and ranges, the transaction rules, the log entry
 * codec, applying transactions (against the independent spec, verify/spec/kv.ts), the partition map.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type KvTxn, type TxnResult, txnProblem } from "../../../apps/kv/core/commands.ts";
import { compareKeys, inRange, keyProblem, prefixRange, rangeProblem } from "../../../apps/kv/core/keys.ts";
import { decodeMap, encodeMap, mapProblem, partitionMap, partsOf, rangeOf, partitionOf, partitionsOf, partitionsOfTxn } from "../../../apps/kv/core/partitions.ts";
import { decodeTxn, encodeTxn } from "../../../apps/kv/core/records.ts";
import { MemoryKv, applyTxn } from "../../../apps/kv/core/state.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { type KvInput, type KvOutput, checkKvHistory } from "../../../verify/spec/kv.ts";
import { KEYS, bytes, key, text, txn } from "./arbitraries.ts";

const utf8 = new TextEncoder();
const anyKey = fc.string({ unit: fc.oneof(fc.constantFrom("a", "b", "\u00e9", "\uFFFD", "\uE000", "\uD7FF"), fc.constantFrom("\u{1F600}", "\u{10FFFF}", "\u{10000}")), minLength: 1, maxLength: 5 });

describe("keys", () => {
  it("sort as their UTF-8 bytes do", () => {
    fc.assert(fc.property(anyKey, anyKey, (a, b) => assert.equal(compareKeys(a, b), Math.sign(Buffer.compare(utf8.encode(a), utf8.encode(b))))), { numRuns: 2_000 });
    assert.equal(compareKeys("\uFFFD", "\u{1F600}"), -1, "U+FFFD is before U+1F600, though its UTF-16 unit is higher");
  });

  it("a prefix's range holds exactly the keys that start with it", () => {
    fc.assert(fc.property(anyKey, anyKey, (prefix, k) => assert.equal(inRange(k, prefixRange(prefix)), k.startsWith(prefix), `${JSON.stringify(prefix)} ${JSON.stringify(k)}`)), { numRuns: 2_000 });
    assert.deepEqual(prefixRange("\u{10FFFF}"), { from: "\u{10FFFF}" }, "nothing sorts after the top code point: to the end");
    assert.deepEqual(prefixRange(""), { from: "" });
  });

  it("refuse what is not a key or a range, saying why", () => {
    assert.match(keyProblem("") ?? "", /non-empty string/);
    assert.match(keyProblem("x".repeat(1_025)) ?? "", /1025 bytes \(limit 1024\)/);
    assert.match(keyProblem("a\uD800") ?? "", /lone surrogate/);
    assert.equal(keyProblem("\u{1F600}"), undefined);
    assert.match(rangeProblem({ from: "b", to: "a" }) ?? "", /must sort before its to/);
    assert.equal(rangeProblem({ from: "" }), undefined);
  });
});

describe("transactions", () => {
  const put = (key: string, value = "v") => ({ op: "put" as const, key, value: bytes(value) });
  it("are refused before anything is appended when malformed", () => {
    const bad: [KvTxn, RegExp][] = [
      [{ compares: [], success: [put("a"), put("a")], failure: [] }, /success: two writes of one key/],
      [{ compares: [], success: [{ op: "delete", key: "a", to: "c" }, put("b")], failure: [] }, /two writes of one key/],
      [{ compares: [{ key: "a", target: "version", result: "equal", number: -1 }], success: [], failure: [] }, /non-negative integer/],
      [{ compares: [{ key: "a", target: "nope" as "version", result: "equal", number: 1 }], success: [], failure: [] }, /target must be/],
      [{ compares: [], success: [], failure: [{ op: "range", key: "a", to: "b", limit: 0 }] }, /failure: a range's limit/],
      [{ compares: [], success: [put("a", "x".repeat((256 << 10) + 1))], failure: [] }, /a value of 262145 bytes/],
      [{ compares: [], success: [{ op: "get" as "range", key: "a" }], failure: [] }, /must be put, delete or range/],
    ];
    for (const [t, why] of bad) assert.match(txnProblem(t) ?? "(none)", why);
    assert.equal(txnProblem({ compares: [], success: [put("a"), { op: "delete", key: "a\u0000", to: "b" }, { op: "range", key: "a" }], failure: [put("a")] }), undefined);
    // "" is the key space's start as a range's key, and its end as a range's to: not a key alone.
    assert.match(txnProblem({ compares: [], success: [put("z"), { op: "delete", key: "a", to: "" }], failure: [] }) ?? "", /two writes of one key/);
    assert.match(txnProblem({ compares: [], success: [{ op: "range", key: "" }], failure: [] }) ?? "", /non-empty/);
    assert.equal(txnProblem({ compares: [], success: [{ op: "range", key: "", to: "" }, { op: "delete", key: "", to: "b" }, put("b")], failure: [] }), undefined);
  });

  it("cross the log as bytes and come back equal; damaged bytes are refused, never thrown", () => {
    fc.assert(
      fc.property(txn, (t) => {
        const bytes = encodeTxn(t);
        assert.deepEqual(decodeTxn(bytes), t);
        for (let cut = 0; cut < bytes.length; cut++) assert.ok(decodeTxn(bytes.subarray(0, cut)) instanceof DecodeError, `cut at ${cut}`);
        assert.ok(decodeTxn(Uint8Array.of(...bytes, 0)) instanceof DecodeError, "a trailing byte");
      }),
      { numRuns: 500 },
    );
    const twice = encodeTxn({ compares: [], success: [put("a"), put("a")], failure: [] });
    assert.match((decodeTxn(twice) as DecodeError).message, /two writes of one key/);
    assert.match((decodeTxn(Uint8Array.of(9)) as DecodeError).message, /not a KV transaction/);
  });
});

/** A spec operation as the KV transaction a client sends, and the transaction's result as the spec's answer. */
function asTxn(i: KvInput): [KvTxn, (r: TxnResult) => KvOutput] {
  const value = (r: TxnResult, k: number) => {
    const x = r.responses[k]!;
    const found = x.op === "put" ? x.prev : x.op === "delete" ? x.deleted[0]?.[1] : x.found[0]?.[1];
    return found ? text(found.value) : null;
  };
  const writes = (w: readonly (readonly [string, string | null])[]) => w.map(([key, v]) => (v === null ? { op: "delete" as const, key } : { op: "put" as const, key, value: bytes(v) }));
  switch (i.op) {
    case "get":
      return [{ compares: [], success: [{ op: "range", key: i.key }], failure: [] }, (r) => ({ value: value(r, 0) })];
    case "range":
      return [{ compares: [], success: [{ op: "range", key: i.from, to: i.to }], failure: [] }, (r) => ({ found: r.responses[0]!.op === "range" ? r.responses[0]!.found.map(([k, x]) => [k, text(x.value)] as const) : [] })];
    case "put":
    case "delete":
      return [{ compares: [], success: writes([[i.key, i.op === "put" ? i.value : null]]), failure: [] }, (r) => ({ value: value(r, 0) })];
    case "txn":
      return [
        {
          compares: i.expect.map(([key, v]) => (v === null ? { key, target: "version" as const, result: "equal" as const, number: 0 } : { key, target: "value" as const, result: "equal" as const, value: bytes(v) })),
          success: writes(i.write),
          failure: [],
        },
        (r) => ({ succeeded: r.succeeded, before: r.succeeded ? i.write.map((_, k) => value(r, k)) : [] }),
      ];
  }
}

const distinctKeys = fc.uniqueArray(key, { minLength: 1, maxLength: 3 });
const specValue = fc.option(fc.constantFrom("1", "2", "3"), { nil: null });
const specOp: fc.Arbitrary<KvInput> = fc.oneof(
  fc.record({ op: fc.constant("get" as const), key }),
  fc.record({ op: fc.constant("put" as const), key, value: fc.constantFrom("1", "2", "3") }),
  fc.record({ op: fc.constant("delete" as const), key }),
  fc.tuple(key, key).filter(([a, b]) => compareKeys(a, b) < 0).map(([from, to]): KvInput => ({ op: "range", from, to })),
  fc.tuple(distinctKeys, distinctKeys).chain(([e, w]) => fc.tuple(fc.array(specValue, { minLength: e.length, maxLength: e.length }), fc.array(specValue, { minLength: w.length, maxLength: w.length })).map(([ev, wv]): KvInput => ({ op: "txn", expect: e.map((k, n) => [k, ev[n]!] as const), write: w.map((k, n) => [k, wv[n]!] as const) }))),
);

describe("applying transactions", () => {
  it("answers as the spec does, operation after operation", () => {
    fc.assert(
      fc.property(fc.array(specOp, { maxLength: 30 }), (ops) => {
        const store = new MemoryKv();
        let revision = 0;
        const history = ops.map((input, id) => {
          const [t, answer] = asTxn(input);
          const r = applyTxn(store, revision, t);
          revision = r.revision;
          return { id, client: 0, input, call: 2 * id, ret: 2 * id + 1, output: answer(r) };
        });
        const verdict = checkKvHistory(history);
        assert.ok(verdict.ok, JSON.stringify(verdict));
      }),
      { numRuns: 1_000 },
    );
  });

  it("raises the revision once per transaction that writes, and keeps each key's revisions and version", () => {
    const store = new MemoryKv();
    let r = applyTxn(store, 0, { compares: [], success: [{ op: "put", key: "a", value: bytes("1") }, { op: "put", key: "b", value: bytes("1") }], failure: [] });
    assert.equal(r.revision, 1);
    r = applyTxn(store, r.revision, { compares: [], success: [{ op: "put", key: "a", value: bytes("2") }], failure: [] });
    assert.equal(r.revision, 2);
    assert.deepEqual(store.get("a"), { value: bytes("2"), createRevision: 1, modRevision: 2, version: 2 });
    // A failed compare-and-set that only reads, and a delete of an absent key, change nothing.
    r = applyTxn(store, 2, { compares: [{ key: "a", target: "modRevision", result: "equal", number: 1 }], success: [{ op: "put", key: "a", value: bytes("3") }], failure: [{ op: "range", key: "a" }] });
    assert.deepEqual([r.succeeded, r.revision], [false, 2]);
    assert.equal(applyTxn(store, 2, { compares: [], success: [{ op: "delete", key: "zz" }], failure: [] }).revision, 2);
    // Deleted and created again: a new createRevision, version 1.
    r = applyTxn(store, 2, { compares: [], success: [{ op: "delete", key: "a" }], failure: [] });
    r = applyTxn(store, r.revision, { compares: [{ key: "a", target: "version", result: "equal", number: 0 }], success: [{ op: "put", key: "a", value: bytes("4") }], failure: [] });
    assert.deepEqual([r.succeeded, r.revision, store.get("a")?.createRevision, store.get("a")?.version], [true, 4, 4, 1]);
    // Every key: from the start to the end of the key space.
    r = applyTxn(store, 4, { compares: [], success: [{ op: "range", key: "", to: "" }], failure: [] });
    assert.deepEqual(r.responses[0]!.op === "range" && r.responses[0]!.found.map(([k]) => k), ["a", "b"]);
    // A range with a limit says there is more.
    r = applyTxn(store, 4, { compares: [], success: [{ op: "range", key: "a", to: "zz", limit: 1 }], failure: [] });
    assert.deepEqual(r.responses[0], { op: "range", found: [["a", store.get("a")]], more: true });
  });

  it("applies equal transactions to equal states alike (what lets every shard and a replay agree)", () => {
    fc.assert(
      fc.property(fc.array(txn, { maxLength: 20 }), (txns) => {
        const [x, y] = [new MemoryKv(), new MemoryKv()];
        let [rx, ry] = [0, 0];
        for (const t of txns) {
          const a = applyTxn(x, rx, t);
          const b = applyTxn(y, ry, decodeTxn(encodeTxn(t)) as KvTxn);
          assert.deepEqual(a, b);
          [rx, ry] = [a.revision, b.revision];
        }
        assert.deepEqual(x.entries(), y.entries());
        assert.deepEqual(x.entries().map(([k]) => k), [...x.entries().map(([k]) => k)].sort(compareKeys), "in key order");
      }),
      { numRuns: 300 },
    );
  });
});

describe("the partition map", () => {
  const nodes = ["127.0.0.1:7301", "127.0.0.1:7302", "127.0.0.1:7303"];
  const map = partitionMap("kv", 1, nodes, ["b", "c"]);
  it("gives every key the partition whose range holds it", () => {
    assert.equal(mapProblem(map), undefined);
    fc.assert(
      fc.property(anyKey, (k) => {
        const p = partitionOf(map, k);
        const linear = [...map.partitions].reverse().find((x) => compareKeys(x.from, k) <= 0)!;
        assert.equal(p.id, linear.id);
      }),
    );
    assert.deepEqual(partitionsOf(map, { from: "a", to: "b" }).map((p) => p.id), [0], "to is exclusive");
    assert.deepEqual(partitionsOf(map, { from: "a", to: "b\u0000" }).map((p) => p.id), [0, 1]);
    assert.deepEqual(partitionsOf(map, { from: "bz" }).map((p) => p.id), [1, 2]);
    // Each partition's part of a range: the later start, the earlier end.
    assert.deepEqual(partsOf(map, { from: "a", to: "bz" }).map((x) => [x.partition.id, x.range]), [[0, { from: "a", to: "b" }], [1, { from: "b", to: "bz" }]]);
    assert.deepEqual(partsOf(map, { from: "bz" }).map((x) => [x.partition.id, x.range]), [[1, { from: "bz", to: "c" }], [2, { from: "c" }]]);
    assert.deepEqual(rangeOf(map, map.partitions[0]!), { from: "", to: "b" });
  });

  it("says which partitions a transaction touches: one is one append, more go through the coordinator", () => {
    const one: KvTxn = { compares: [{ key: "a", target: "version", result: "equal", number: 0 }], success: [{ op: "put", key: "ab", value: bytes("x") }], failure: [] };
    assert.deepEqual(partitionsOfTxn(map, one).map((p) => p.id), [0]);
    const two: KvTxn = { compares: [], success: [{ op: "put", key: "a", value: bytes("x") }], failure: [{ op: "range", key: "a", to: "cc" }] };
    assert.deepEqual(partitionsOfTxn(map, two).map((p) => p.id), [0, 1, 2]);
    for (const k of KEYS) assert.equal(partitionsOfTxn(map, { compares: [], success: [{ op: "put", key: k, value: bytes("") }], failure: [] }).length, 1);
  });

  it("crosses a register as its bytes and comes back equal; anything else is refused", () => {
    assert.deepEqual(decodeMap(encodeMap(map)), map);
    assert.equal(map.partitions[2]!.log, "kv-p2");
    assert.match(decodeMap(new TextEncoder().encode("{")) as string, /unreadable/);
    assert.match(decodeMap(new TextEncoder().encode('{"epoch":0,"partitions":[{"id":0,"from":"a","log":"l","node":"h:1"}]}')) as string, /beginning of the key space/);
  });

  it("refuses a map that does not cover the key space once, in order", () => {
    assert.match(mapProblem({ epoch: 0, partitions: [] }) ?? "", /at least one partition/);
    assert.match(mapProblem({ epoch: 0, partitions: [{ id: 0, from: "a", log: "x", node: "h:1" }] }) ?? "", /beginning of the key space/);
    assert.match(mapProblem(partitionMap("kv", 0, nodes, ["c", "b"])) ?? "", /in key order/);
    const p = map.partitions;
    assert.match(mapProblem({ epoch: 0, partitions: [p[0]!, { ...p[1]!, log: p[0]!.log }] }) ?? "", /a log of its own/);
    assert.match(mapProblem({ epoch: 0, partitions: [{ ...p[0]!, node: "nowhere" }] }) ?? "", /its node must be "host:port"/);
    assert.match(mapProblem({ epoch: 0, partitions: [p[0]!, { ...p[1]!, node: p[0]!.node }] }) ?? "", /^partitions 0 and 1 name one node, .*: each partition's node has an address of its own/);
    assert.match(mapProblem({ ...map, epoch: -1 }) ?? "", /epoch/);
  });
});
