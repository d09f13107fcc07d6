/**
 * Transactions across partitions, the pure parts (apps/kv/core/cross.ts, book.ts, records.ts's
 * commit entry, shard-state.ts applying it): the split, the rules, the locks and votes, and a
 * commit applied once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PartitionBook, REFUSAL } from "../../../apps/kv/core/book.ts";
import type { KvRecord, KvTxn } from "../../../apps/kv/core/commands.ts";
import { crossTxnProblem, partKeys, partProblem, splitTxn } from "../../../apps/kv/core/cross.ts";
import { partitionMap, partitionOf } from "../../../apps/kv/core/partitions.ts";
import { type KvEntry, decodeEntry, encodeCommit, encodeTxn } from "../../../apps/kv/core/records.ts";
import { EMPTY_KV_IMAGE, KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { bytes, key, text, txn } from "./arbitraries.ts";

const map = partitionMap("kv", 0, ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], ["b", "c"]);
const put = (k: string, v: string) => ({ op: "put" as const, key: k, value: bytes(v) });
const valueIs = (k: string, v: string) => ({ key: k, target: "value" as const, result: "equal" as const, value: bytes(v) });

describe("splitTxn and the rules", () => {
  it("gives each partition its own compares and ops, in the transaction's order, partitions in key order", () => {
    const t: KvTxn = { compares: [valueIs("z", "1"), valueIs("a", "2")], success: [put("c1", "x"), put("a", "y"), { op: "delete", key: "b2" }], failure: [] };
    const parts = splitTxn(map, t);
    assert.deepEqual(
      parts.map((p) => [p.partition.id, p.part.compares.map((c) => c.key), p.part.success.map((o) => o.key), p.part.failure.length]),
      [
        [0, ["a"], ["a"], 0],
        [1, [], ["b2"], 0],
        [2, ["z"], ["c1"], 0],
      ],
    );
  });

  it("loses and invents nothing: every compare and op lands in the part of its key's partition (property)", () => {
    const cross = txn.map((t) => ({ compares: t.compares, success: t.success.filter((o) => o.op === "put" || (o.op === "delete" && o.to === undefined)), failure: [] }));
    fc.assert(
      fc.property(cross, (t) => {
        assert.equal(crossTxnProblem(t), undefined);
        const parts = splitTxn(map, t);
        assert.equal(parts.reduce((n, p) => n + p.part.compares.length, 0), t.compares.length);
        assert.equal(parts.reduce((n, p) => n + p.part.success.length, 0), t.success.length);
        for (const p of parts) {
          for (const k of partKeys(p.part)) assert.equal(partitionOf(map, k).id, p.partition.id);
          assert.ok(p.part.compares.length + p.part.success.length > 0, "no empty part");
        }
      }),
    );
  });

  it("refuses a failure branch, range reads and range deletes; a part too large for a vote", () => {
    assert.match(crossTxnProblem({ compares: [], success: [put("a", "1")], failure: [put("z", "1")] }) ?? "", /no failure branch/);
    assert.match(crossTxnProblem({ compares: [], success: [{ op: "range", key: "a" }], failure: [] }) ?? "", /range read of "a"/);
    assert.match(crossTxnProblem({ compares: [], success: [{ op: "delete", key: "a", to: "b" }], failure: [] }) ?? "", /range delete/);
    const big = splitTxn(map, { compares: [], success: [put("a", "x".repeat(70_000)), put("z", "1")], failure: [] });
    assert.match(partProblem(big[0]!) ?? "", /partition 0's part of the transaction is \d+ bytes \(limit 65536/);
    assert.equal(partProblem(big[1]!), undefined);
  });
});

describe("the commit entry", () => {
  it("round-trips, and every truncation or trailing byte is refused (property)", () => {
    const ops = fc.array(fc.oneof(key.map((k) => put(k, "v")), key.map((k) => ({ op: "delete" as const, key: k }))), { maxLength: 4 }).map((os) => os.filter((o, i) => os.findIndex((x) => x.key === o.key) === i));
    fc.assert(
      fc.property(fc.nat(1 << 30), fc.nat(1 << 30), fc.nat(1 << 20), ops, (n, scanFrom, epoch, os) => {
        const b = encodeCommit(epoch, { txn: n, scanFrom, ops: os });
        assert.deepEqual(decodeEntry(b), { kind: "commit", epoch, commit: { txn: n, scanFrom, ops: os } } satisfies KvEntry);
        for (let cut = 0; cut < b.length; cut++) assert.ok(decodeEntry(b.subarray(0, cut)) instanceof DecodeError, `cut at ${cut}`);
        assert.ok(decodeEntry(Uint8Array.of(...b, 0)) instanceof DecodeError);
      }),
    );
  });

  it("a transaction's entry still decodes as one; a commit holding a range or compares is refused", () => {
    const t: KvTxn = { compares: [valueIs("a", "1")], success: [put("a", "2")], failure: [{ op: "range", key: "a" }] };
    assert.deepEqual(decodeEntry(encodeTxn(t)), { kind: "txn", txn: t });
    const ranged = encodeCommit(0, { txn: 1, scanFrom: 0, ops: [{ op: "range", key: "a" }] });
    assert.match((decodeEntry(ranged) as DecodeError).message, /range read/);
  });
});

describe("a shard applies a commit once", () => {
  const row = (position: number, data: Uint8Array) => ({ position, data });
  it("applies a commit entry like a transaction, skips a second one of the same transaction, forgets below the scan start", () => {
    const s = new KvShardState(EMPTY_KV_IMAGE);
    const commit = (n: number, scanFrom: number, v: string) => encodeCommit(0, { txn: n, scanFrom, ops: [put("a", v)] });
    s.stage([row(0, commit(65, 0, "1")), row(1, commit(65, 0, "again")), row(2, commit(66, 66, "2"))]);
    assert.equal(text(s.get("a")!.value), "2");
    assert.equal(s.get("a")!.version, 2, "the second entry of transaction 65 was skipped");
    assert.equal(s.revision, 2);
    assert.equal(s.resultAt(1), undefined);
    assert.deepEqual([s.committed(65), s.committed(66), s.scanFrom], [false, true, 66], "65 is below the scan start: forgotten");
    const image = s.image();
    assert.deepEqual([image.committed, image.scanFrom], [[66], 66]);
    const again = new KvShardState(image);
    again.stage([row(3, commit(66, 66, "3"))]);
    assert.equal(text(again.get("a")!.value), "2", "a restarted shard still knows 66 committed");
  });
});

describe("PartitionBook: locks and votes", () => {
  const records = new Map<string, KvRecord>([["a", { value: bytes("1"), createRevision: 1, modRevision: 1, version: 1 }]]);
  const book = (released: () => void = () => {}) => new PartitionBook((k) => records.get(k), released);
  const part = (compares: KvTxn["compares"], success: KvTxn["success"]): KvTxn => ({ compares, success, failure: [] });

  it("votes YES when its keys were reserved and its compares hold; NO saying why otherwise; asking again gives the same", () => {
    const b = book();
    const yes = part([valueIs("a", "1")], [put("a", "2")]);
    assert.equal(b.prepare("t:1", yes), `${REFUSAL.locked}: "a" is locked by another transaction`, "not reserved: NO, even with the key free");
    assert.ok(b.reserve("t:2", partKeys(yes)));
    assert.equal(b.prepare("t:2", yes), true);
    assert.equal(b.prepare("t:2", yes), true, "the same answer");
    assert.equal(b.reserve("t:3", ["a"]), false, "a is held by t:2");
    assert.equal(b.lockedIn({ from: "a", to: "b" }), "t:2");
    assert.ok(b.reserve("t:4", ["z"]));
    assert.match(b.prepare("t:4", part([valueIs("z", "1")], [])) as string, /^compare: the compare of "z"'s value does not hold/);
    assert.equal(b.lockedIn({ from: "z", to: "zz" }), undefined, "a NO releases its keys");
  });

  it("holds a commit's locks until the node releases them; an abort releases at once; a part with no ops at its commit", () => {
    let released = 0;
    const b = book(() => released++);
    const p = part([], [put("a", "9")]);
    assert.ok(b.reserve("t:1", ["a"]));
    assert.equal(b.prepare("t:1", p), true);
    assert.deepEqual(b.decide("t:1", "committed"), { outcome: "committed", part: p });
    assert.equal(b.decide("t:1", "committed"), undefined, "decided once");
    assert.equal(b.lockedIn({ from: "a", to: "a\u0000" }), "t:1", "held until applied");
    b.release("t:1");
    assert.equal(b.lockedIn({ from: "a", to: "a\u0000" }), undefined);
    assert.ok(b.reserve("t:2", ["a"]) && b.prepare("t:2", p) === true);
    assert.deepEqual(b.decide("t:2", "aborted"), { outcome: "aborted" });
    assert.equal(b.lockedIn({ from: "a", to: "a\u0000" }), undefined, "an abort releases");
    const read = part([valueIs("a", "1")], []);
    assert.ok(b.reserve("t:3", ["a"]) && b.prepare("t:3", read) === true);
    b.decide("t:3", "committed");
    assert.equal(b.lockedKeys, 0, "nothing to apply: released at the decision");
    assert.ok(released >= 3);
  });

  it("a reservation without a vote can be given up; one with a vote cannot; a commit read back from a vote", () => {
    const b = book();
    assert.ok(b.reserve("t:1", ["a"]));
    b.unreserve("t:1");
    assert.equal(b.lockedKeys, 0);
    assert.ok(b.reserve("t:2", ["a"]) && b.prepare("t:2", part([], [put("a", "1")])) === true);
    b.unreserve("t:2");
    assert.equal(b.lockedKeys, 1, "t:2 voted YES: its lock is the vote's");
    const fromVote = part([], [put("q", "1")]);
    assert.deepEqual(b.decide("s:7", "committed", fromVote), { outcome: "committed", part: fromVote }, "a restart's decision, never prepared in this life");
  });

  it("forgets decisions below a transaction number; decodes only parts", () => {
    const b = book();
    b.decide("kv-txn:5", "aborted");
    b.decide("kv-txn:70", "aborted");
    b.forgetBelow(64);
    assert.deepEqual([b.isDecided("kv-txn:5"), b.isDecided("kv-txn:70")], [false, true]);
    assert.equal(b.decode(encodeTxn({ compares: [], success: [put("a", "1")], failure: [put("b", "1")] })), undefined, "a failure branch is not a part");
    assert.equal(b.decode(Uint8Array.of(7)), undefined);
  });
});
