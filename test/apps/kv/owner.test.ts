/**
 * Map epochs in a partition's log (apps/kv/core/records.ts, shard-state.ts, invariants.ts): owner
 * entries and the epoch batches and commit entries carry round-trip, entries written before epochs
 * read as epoch 0; a shard applies an entry of an older epoch than its last owner entry as nothing,
 * keeps the owner across a restart (its image, and its store on disk); and the KV's observer, which
 * replays the log by the same rule, catches a shard that applied one (the planted bug
 * applySuperseded).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { KvObserver } from "../../../apps/kv/core/invariants.ts";
import { type KvEntry, decodeEntry, encodeBatch, encodeCommit, encodeOwner, encodeTxn } from "../../../apps/kv/core/records.ts";
import { EMPTY_KV_IMAGE, KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";
import { bytes, text } from "./arbitraries.ts";

const put = (key: string, v: string) => ({ compares: [], success: [{ op: "put" as const, key, value: bytes(v) }], failure: [] });
const batch = (epoch: number, client: string, seq: number, key: string, v: string) => encodeBatch(epoch, [{ client, seq, ackedBelow: 0, txn: encodeTxn(put(key, v)) }]);
const rows = (...data: Uint8Array[]) => data.map((d, position) => ({ position, data: d }));

test("owner entries, and batches and commit entries of an epoch, round-trip; a cut or a trailing byte is refused", () => {
  fc.assert(
    fc.property(fc.nat(1 << 30), fc.string({ minLength: 1, maxLength: 40 }), (epoch, node) => {
      const b = encodeOwner({ epoch, node });
      assert.deepEqual(decodeEntry(b), { kind: "owner", owner: { epoch, node } } satisfies KvEntry);
      for (let cut = 1; cut < b.length; cut++) assert.ok(decodeEntry(b.subarray(0, cut)) instanceof DecodeError, `cut at ${cut}`);
      assert.ok(decodeEntry(Uint8Array.of(...b, 0)) instanceof DecodeError);
      const e = decodeEntry(batch(epoch, "c", 7, "k", "v"));
      assert.ok(!(e instanceof DecodeError) && e.kind === "batch" && e.epoch === epoch && e.proposals[0]!.seq === 7);
      const c = decodeEntry(encodeCommit(epoch, { txn: 3, scanFrom: 1, ops: put("k", "v").success }));
      assert.ok(!(c instanceof DecodeError) && c.kind === "commit" && c.epoch === epoch && c.commit.txn === 3);
    }),
  );
});

test("a batch or a commit entry written before epochs (tags 0x03, 0x02) reads as epoch 0", () => {
  // The old forms: the new ones without their epoch varint (a one-byte 0 right after the tag).
  const old = (b: Uint8Array, tag: number) => Uint8Array.of(tag, ...b.subarray(2));
  const e = decodeEntry(old(batch(0, "c", 1, "k", "v"), 0x03));
  assert.ok(!(e instanceof DecodeError) && e.kind === "batch" && e.epoch === 0 && e.proposals[0]!.client === "c");
  const c = decodeEntry(old(encodeCommit(0, { txn: 9, scanFrom: 0, ops: put("k", "v").success }), 0x02));
  assert.ok(!(c instanceof DecodeError) && c.kind === "commit" && c.epoch === 0 && c.commit.txn === 9);
});

/** A log: epoch 0 writes, the owner entry of epoch 1, then a late epoch 0 batch and commit, then epoch 1's. */
const moved = () =>
  rows(
    batch(0, "a", 0, "k", "1"),
    encodeOwner({ epoch: 1, node: "127.0.0.1:2" }),
    batch(0, "a", 1, "k", "late"),
    encodeCommit(0, { txn: 5, scanFrom: 0, ops: put("j", "late").success }),
    encodeTxn(put("k", "bare")),
    batch(1, "a", 1, "k", "2"),
    encodeOwner({ epoch: 1, node: "127.0.0.1:2" }),
    encodeOwner({ epoch: 0, node: "127.0.0.1:1" }),
    batch(1, "b", 0, "j", "3"),
  );

test("a shard applies an entry of an epoch below its last owner entry as nothing, and keeps the owner in its image", () => {
  const s = new KvShardState(EMPTY_KV_IMAGE);
  const seen: string[] = [];
  s.stage(moved(), (a) => seen.push(`${a.position}`));
  assert.deepEqual(seen, ["0", "5", "8"], "only epoch 0 before the owner entry, then epoch 1's");
  assert.equal(text(s.get("k")!.value), "2");
  assert.equal(s.get("k")!.version, 2);
  assert.equal(text(s.get("j")!.value), "3");
  assert.equal(s.revision, 3);
  const retried = s.resultOf("a", 1);
  assert.equal(typeof retried === "object" && retried.revision, 2, "the client's retry of seq 1 under epoch 1 was applied, not the late one");
  assert.equal(s.committed(5), false, "a late commit entry commits nothing here");
  assert.deepEqual(s.owner, { epoch: 1, node: "127.0.0.1:2" }, "a repeat or an older owner entry changes nothing");
  const again = new KvShardState(s.image());
  again.stage([{ position: 9, data: batch(0, "c", 0, "k", "zombie") }]);
  assert.equal(text(again.get("k")!.value), "2", "the owner survives a restart from the image");
});

test("the KV's observer catches a shard that applied a superseded entry (planted applySuperseded)", () => {
  const log = moved();
  const observe = () => {
    const o = new KvObserver();
    for (const r of log) {
      const e = decodeEntry(r.data);
      o.logged(0, r.position, e instanceof DecodeError ? undefined : e);
    }
    const s = new KvShardState(EMPTY_KV_IMAGE);
    s.stage(log);
    o.shardHolds(0, "s", 8, s.revision, s.entries());
    return o.violations;
  };
  assert.deepEqual(observe(), []);
  const caught = plantBugForTest("applySuperseded", observe);
  assert.match(caught.join("; "), /position 8: shard 0\/s holds revision 5, the log says 3/);
});

test("a store keeps its owner on disk: reopened, it still applies an older epoch's entry as nothing", { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "worm-kv-owner-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let store = await KvShardStore.open(dir);
  await store.write({ rows: moved().slice(0, 2), applied: 1, epoch: 1 });
  assert.equal(store.mapEpoch, 1);
  await store.close();
  store = await KvShardStore.open(dir);
  t.after(() => store.close());
  assert.deepEqual(store.owner, { epoch: 1, node: "127.0.0.1:2" });
  await store.write({ rows: [{ position: 2, data: batch(0, "a", 1, "k", "late") }], applied: 2, epoch: 1 });
  assert.equal(text(store.get("k")!.value), "1");
});
