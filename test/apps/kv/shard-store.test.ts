/**
 * A KV storage shard (apps/kv/node/shard-store.ts) and what it stores (apps/kv/core/stored.ts):
 * records and results round-trip and truncations are refused; applying delivered rows gives the
 * state and results `applyTxn` gives on a `MemoryKv`, and all of it survives a restart; results leave
 * with the kept window; waiters wait; a failed write stops the store; a damaged or foreign store is
 * refused; and a real LogPlayer delivers a log of transactions to it through the shard server.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ClassicLevel } from "classic-level";
import fc from "fast-check";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import type { KvRecord, KvTxn, TxnResult } from "../../../apps/kv/core/commands.ts";
import { decodeEntry, encodeTxn } from "../../../apps/kv/core/records.ts";
import { MemoryKv, applyTxn } from "../../../apps/kv/core/state.ts";
import { decodeRecord, decodeResult, encodeRecord, encodeResult } from "../../../apps/kv/core/stored.ts";
import { KvShardStoreDamaged } from "../../../apps/kv/node/shard-layout.ts";
import { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import type { ShardWrite } from "../../../apps/logplayer/core/shard-core.ts";
import { LogPlayer } from "../../../apps/logplayer/node/player.ts";
import { ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";
import { walFixture } from "../logplayer/wal.ts";
import { KEYS, bytes, text, txn } from "./arbitraries.ts";

const binding = { group: "kv-0", shard: 0, shards: 1 };

async function tempDir(t: { after: (f: () => Promise<void>) => void }, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `worm-kv-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The results of `txns` applied in order to a fresh MemoryKv, and its final state. */
function model(txns: readonly KvTxn[]): { kv: MemoryKv; revision: number; results: TxnResult[] } {
  const kv = new MemoryKv();
  let revision = 0;
  const results = txns.map((x) => {
    const r = applyTxn(kv, revision, x);
    revision = r.revision;
    return r;
  });
  return { kv, revision, results };
}

/** Bytes that are not a KV transaction. */
const notTxn = fc.uint8Array({ maxLength: 12 }).filter((b) => decodeEntry(b) instanceof DecodeError);
const record: fc.Arbitrary<KvRecord> = fc
  .tuple(fc.uint8Array({ maxLength: 8 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 1 }), fc.nat(), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
  .map(([value, createRevision, more, version]) => ({ value, createRevision, modRevision: Math.min(Number.MAX_SAFE_INTEGER, createRevision + more), version }));

test("records and results round-trip; truncated, extended or foreign bytes are refused, never thrown", () => {
  fc.assert(
    fc.property(fc.array(txn, { maxLength: 12 }), fc.array(record, { maxLength: 4 }), (txns, records) => {
      const { kv, results } = model(txns);
      for (const r of [...kv.entries().map(([, r]) => r), ...records]) {
        const b = encodeRecord(r);
        assert.deepEqual(decodeRecord(b), r);
        for (let n = 0; n < b.length; n++) assert.ok(decodeRecord(b.subarray(0, n)) instanceof DecodeError, `a record cut at ${n}`);
        assert.ok(decodeRecord(Uint8Array.of(...b, 0)) instanceof DecodeError);
        assert.ok(decodeResult(b) instanceof DecodeError, "a record is not a result");
      }
      for (const r of results) {
        const b = encodeResult(r);
        assert.deepEqual(decodeResult(b), r);
        for (let n = 0; n < b.length; n++) assert.ok(decodeResult(b.subarray(0, n)) instanceof DecodeError, `a result cut at ${n}`);
        assert.ok(decodeResult(Uint8Array.of(...b, 0)) instanceof DecodeError);
        assert.ok(decodeRecord(b) instanceof DecodeError, "a result is not a record");
      }
    }),
    { numRuns: 200 },
  );
  // Every kind of response, and records no transaction makes (version 0, modRevision below createRevision).
  const { results } = model([
    { compares: [], success: [{ op: "put", key: "a", value: bytes("1") }], failure: [] },
    { compares: [], success: [{ op: "put", key: "a", value: bytes("2") }, { op: "range", key: "a", to: "z", limit: 1 }, { op: "delete", key: "a", to: "b" }], failure: [] },
  ]);
  assert.deepEqual(results[1]!.responses.map((r) => r.op), ["put", "range", "delete"]);
  assert.deepEqual(decodeResult(encodeResult(results[1]!)), results[1]);
  assert.ok(decodeRecord(encodeRecord({ value: bytes("x"), createRevision: 1, modRevision: 1, version: 0 })) instanceof DecodeError);
  assert.ok(decodeRecord(encodeRecord({ value: bytes("x"), createRevision: 3, modRevision: 2, version: 1 })) instanceof DecodeError);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => void [decodeRecord(b), decodeResult(b)]), { numRuns: 2_000 });
});

/** Rows at increasing positions (gaps between: entries of other shards), split into writes. */
const delivery = fc.record({
  items: fc.array(fc.tuple(fc.oneof({ weight: 4, arbitrary: txn.map((x) => ({ txn: x })) }, { weight: 1, arbitrary: notTxn.map((data) => ({ data })) }), fc.integer({ min: 1, max: 3 })), { maxLength: 30 }),
  cuts: fc.array(fc.nat(30), { maxLength: 5 }),
  tail: fc.nat(3),
});

test("delivered rows applied give applyTxn's state and results, and all of it survives a restart", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, "apply");
  let run = 0;
  await fc.assert(
    fc.asyncProperty(delivery, async ({ items, cuts, tail }) => {
      const at = join(dir, `run-${run++}`);
      let position = -1;
      const rows = items.map(([item, step]) => ({ position: (position += step), data: "txn" in item ? encodeTxn(item.txn) : item.data, txn: "txn" in item ? item.txn : undefined }));
      const want = model(rows.flatMap((r) => (r.txn ? [r.txn] : [])));
      const resultOf = new Map(rows.filter((r) => r.txn).map((r, i) => [r.position, want.results[i]!]));
      const applied = position + tail;
      let store = await KvShardStore.open(at);
      try {
        let from = 0;
        for (const to of [...new Set([...cuts.map((c) => Math.min(c, rows.length)), rows.length])].sort((a, b) => a - b)) {
          const part = rows.slice(from, to);
          from = to;
          await store.write({ rows: part.map(({ position, data }) => ({ position, data })), applied: to === rows.length ? applied : (part.at(-1)?.position ?? store.applied), epoch: 2, binding });
        }
        const check = async (s: KvShardStore) => {
          assert.deepEqual(s.range({ from: "" }, 1_000), want.kv.entries());
          for (const k of KEYS) assert.deepEqual(s.get(k), want.kv.get(k));
          assert.equal(s.keys, want.kv.size);
          assert.equal(s.revision, want.revision);
          assert.equal(s.applied, applied);
          assert.deepEqual(s.state, { applied, epoch: 2, binding });
          for (const r of rows) assert.deepEqual(await s.resultAt(r.position), resultOf.get(r.position), `the result at ${r.position}`);
        };
        await check(store);
        assert.equal(store.skipped, rows.filter((r) => !r.txn).length);
        await store.close();
        store = await KvShardStore.open(at);
        await check(store);
      } finally {
        await store.close();
        await rm(at, { recursive: true, force: true });
      }
    }),
    {
      numRuns: 40,
      // A key put then deleted in another write: the delete must reach the disk.
      examples: [[{ items: [[{ txn: { compares: [], success: [{ op: "put", key: "a", value: bytes("1") }], failure: [] } }, 1], [{ txn: { compares: [], success: [{ op: "delete", key: "a", to: "b" }], failure: [] } }, 2]], cuts: [1], tail: 1 }]],
    },
  );
});

const put = (key: string, value: string): Uint8Array => encodeTxn({ compares: [], success: [{ op: "put", key, value: bytes(value) }], failure: [] });
const puts = (from: number, to: number): ShardWrite => ({ rows: Array.from({ length: to - from + 1 }, (_, i) => ({ position: from + i, data: put(`k${from + i}`, "v") })), applied: to, epoch: 1, binding });

test("only the last resultsKept positions keep their results, on disk too", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "window");
  let store = await KvShardStore.open(dir, { resultsKept: 4, resultsInMemory: 1 });
  await store.write(puts(0, 5));
  await store.write(puts(6, 9));
  const results = async () => Promise.all(Array.from({ length: 10 }, (_, p) => store.resultAt(p).then((r) => r?.revision)));
  assert.deepEqual(await results(), [undefined, undefined, undefined, undefined, undefined, undefined, 7, 8, 9, 10]);
  await store.close();
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
  assert.deepEqual(await db.keys({ gte: "r:", lt: "r;" }).all(), [6, 7, 8, 9].map((p) => `r:${String(p).padStart(16, "0")}`));
  await db.close();
  store = await KvShardStore.open(dir, { resultsKept: 4 });
  t.after(() => store.close());
  assert.deepEqual(await results(), [undefined, undefined, undefined, undefined, undefined, undefined, 7, 8, 9, 10], "after a restart, from the disk");
  await store.write({ rows: [], applied: 11, epoch: 1, binding });
  assert.equal(await store.resultAt(7), undefined, "a watermark moves the window too");
  assert.equal((await store.resultAt(8))?.revision, 9);
});

test("whenApplied and resultAt wait for the position; an abort or close rejects them", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "wait");
  const store = await KvShardStore.open(dir);
  let ready = false;
  const applied = store.whenApplied(2).then(() => (ready = true));
  const result = store.resultAt(1);
  await store.write(puts(0, 0));
  await new Promise((r) => setImmediate(r));
  assert.equal(ready, false, "position 2 is not applied yet");
  await store.write({ rows: [{ position: 1, data: put("x", "y") }, { position: 2, data: bytes("not a txn") }], applied: 2, epoch: 1, binding });
  await applied;
  assert.equal(ready, true);
  assert.deepEqual(await result, { succeeded: true, revision: 2, responses: [{ op: "put", prev: undefined }] });
  assert.equal(await store.resultAt(2), undefined, "position 2 held no transaction");
  assert.equal(store.skipped, 1);
  // Applied in memory at once, before the write's sync completes.
  const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db;
  const batch = db.batch.bind(db);
  let sync!: () => void;
  const synced = new Promise<void>((r) => (sync = r));
  db.batch = async (...a) => {
    await synced;
    return batch(...a);
  };
  const writing = store.write({ rows: [{ position: 4, data: put("x", "z") }], applied: 4, epoch: 1, binding });
  await store.whenApplied(4);
  assert.deepEqual(store.get("x")?.value, bytes("z"));
  assert.equal((await store.resultAt(4))?.revision, 3);
  assert.equal(store.state.applied, 2, "not durable yet");
  sync();
  await writing;
  assert.equal(store.state.applied, 4);
  await assert.rejects(store.whenApplied(50, AbortSignal.timeout(30)), { name: "TimeoutError" });
  const pending = assert.rejects(store.resultAt(60), /is closed/);
  await store.close();
  await pending;
  assert.throws(() => store.get("x"), /is closed/);
});

test("a failed write stops the store: no write nor read after it, waiters rejected", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "fail");
  let store = await KvShardStore.open(dir);
  await store.write(puts(0, 1));
  const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db;
  db.batch = () => Promise.reject(new Error("no space left on device"));
  const waiting = assert.rejects(store.whenApplied(10), /a write failed .*no space left on device/);
  await assert.rejects(store.write(puts(2, 3)), /no space left on device/);
  await waiting;
  assert.throws(() => store.get("k0"), /a write failed/);
  await assert.rejects(store.write(puts(4, 4)), /a write failed/);
  await store.close();
  store = await KvShardStore.open(dir);
  t.after(() => store.close());
  assert.deepEqual([store.applied, store.revision, store.keys], [1, 2, 2], "what was durable, nothing of the failed write");
});

test("a damaged state or another kind of store is refused on open, and left as it was", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "damaged");
  const kv = join(dir, "kv");
  await (await KvShardStore.open(kv)).close();
  const db = new ClassicLevel<string, Uint8Array>(kv, { keyEncoding: "utf8", valueEncoding: "view" });
  await db.put("state", bytes("{not json"));
  await db.close();
  await assert.rejects(KvShardStore.open(kv), (e) => e instanceof KvShardStoreDamaged && /its state is not readable/.test(e.message));
  await assert.rejects(KvShardStore.open(kv), KvShardStoreDamaged, "refused again: nothing was overwritten");

  const rows = join(dir, "rows");
  const shard = await ShardStore.open(rows);
  await shard.write({ rows: [{ position: 0, data: put("a", "1") }], applied: 0, epoch: 1, binding });
  await shard.close();
  await assert.rejects(KvShardStore.open(rows), (e) => e instanceof KvShardStoreDamaged && /not a KV shard's/.test(e.message));
});

/** A unary service of raw bytes beside the shard's: what the KV node's API will be. */
const echo: grpc.ServiceDefinition = {
  echo: { path: "/test.Echo/Echo", requestStream: false, responseStream: false, requestSerialize: (b: Uint8Array) => Buffer.from(b), requestDeserialize: (b: Buffer) => new Uint8Array(b), responseSerialize: (b: Uint8Array) => Buffer.from(b), responseDeserialize: (b: Buffer) => new Uint8Array(b), originalName: "echo" },
};

test("a LogPlayer delivers a log of transactions to a KV shard served by the shard server", { timeout: 60_000 }, async (t) => {
  const { dir, client, log } = await walFixture(t, "kv");
  const store = await KvShardStore.open(join(dir, "kv"));
  const server = await startShardServer({ store, port: 0, services: [{ definition: echo, handlers: { echo: (call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>, cb: grpc.sendUnaryData<Uint8Array>) => cb(null, call.request) } }] });
  const address = `127.0.0.1:${server.port}`;
  const links = new ShardLinks([address]);
  let player: LogPlayer | undefined;
  t.after(async () => {
    player?.stop();
    links.close();
    await server.close();
    await store.close();
  });

  const txns: KvTxn[] = [
    { compares: [], success: [{ op: "put", key: "a", value: bytes("1") }], failure: [] },
    { compares: [], success: [{ op: "put", key: "b", value: bytes("2") }], failure: [] },
    { compares: [{ key: "a", target: "version", result: "equal", number: 1 }], success: [{ op: "put", key: "a", value: bytes("3") }], failure: [] },
    { compares: [{ key: "a", target: "version", result: "equal", number: 1 }], success: [{ op: "delete", key: "b" }], failure: [{ op: "range", key: "a", to: "z" }] },
  ];
  const slots: number[] = [];
  for (const [i, x] of txns.entries()) {
    slots.push((await log.append(encodeTxn(x))).slot);
    if (i === 1) await log.append(bytes("not a transaction"));
  }
  player = await LogPlayer.start({ client, log: new WormLog({ client, log: "wal" }), group: "kv-player", shards: [address], tuning: { watermarkMs: 20, reconnectMs: 50, startGraceMs: 200 } });
  await store.whenApplied(slots.at(-1)!, AbortSignal.timeout(20_000));

  const want = model(txns);
  assert.deepEqual(store.range({ from: "" }, 10), want.kv.entries());
  assert.equal(store.revision, 3);
  assert.equal(store.skipped, 1);
  for (const [i, slot] of slots.entries()) assert.deepEqual(await store.resultAt(slot), want.results[i]);
  assert.equal((await store.resultAt(slots[3]!))?.succeeded, false, "the last compare failed: a's version is 2");
  for (let tries = 0; (await links.status(0, 2_000)).applied < slots.at(-1)!; tries++) {
    assert.ok(tries < 200, "the shard's durable applied position reaches the last slot");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await links.status(0, 2_000)).binding?.group, "kv-player");
  await assert.rejects(links.read(0, 0, 10, 2_000), /this shard keeps no rows \(a KV shard: read it with worm kv\)/);
  const Echo = grpc.makeGenericClientConstructor(echo, "Echo");
  const c = new Echo(address, grpc.credentials.createInsecure());
  t.after(() => c.close());
  const answer = await new Promise<Uint8Array>((resolve, reject) => c.makeUnaryRequest("/test.Echo/Echo", (b: Uint8Array) => Buffer.from(b), (b: Buffer) => new Uint8Array(b), bytes("ping"), (e, v) => (e ? reject(e) : resolve(v!))));
  assert.deepEqual(answer, bytes("ping"), "the extra service is served on the shard's port");
});

test("staged rows are applied at once, once, and durable only with their write", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "stage");
  let store = await KvShardStore.open(dir);
  const rows = ["1", "2", "3"].map((v, position) => ({ position, data: encodeTxn({ compares: [], success: [{ op: "put", key: "a", value: bytes(v) }], failure: [] }) }));
  store.stage(rows.slice(0, 2));
  store.stage(rows.slice(0, 2)); // the forming write grows: what was staged is not applied again
  assert.deepEqual([store.applied, store.revision, text(store.get("a")!.value)], [1, 2, "2"]);
  assert.equal((await store.resultAt(1))?.revision, 2, "a staged row's result is there before any write");
  await store.close();
  store = await KvShardStore.open(dir);
  assert.deepEqual([store.applied, store.revision, store.get("a")], [-1, 0, undefined], "nothing staged is durable without its write");
  store.stage(rows.slice(0, 2));
  await store.write({ rows, applied: 3, epoch: 1, binding }); // the third row not staged yet, and a watermark to 3
  assert.deepEqual([store.applied, store.revision, text(store.get("a")!.value)], [3, 3, "3"]);
  await store.close();
  store = await KvShardStore.open(dir);
  t.after(() => store.close());
  assert.deepEqual([store.state.applied, store.revision, text(store.get("a")!.value), store.get("a")!.version], [3, 3, "3", 3]);
});

test("a store records which partition it holds, and refuses to open as another's", { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, "holds");
  let store = await KvShardStore.open(dir, { holds: "partition 0 of KV kv (log kv-p0)" });
  await store.close();
  // Opened again before any write (no state yet): the same partition is served, another refused.
  store = await KvShardStore.open(dir, { holds: "partition 0 of KV kv (log kv-p0)" });
  await store.write({ rows: [{ position: 0, data: encodeTxn({ compares: [], success: [{ op: "put", key: "a", value: bytes("1") }], failure: [] }) }], applied: 0, epoch: 1, binding });
  await store.close();
  await assert.rejects(KvShardStore.open(dir, { holds: "partition 1 of KV kv (log kv-p1)" }), (e: Error) => e instanceof KvShardStoreDamaged && /holds partition 0 of KV kv \(log kv-p0\), not partition 1 of KV kv \(log kv-p1\): give each node its own data directory/.test(e.message));
  store = await KvShardStore.open(dir, { holds: "partition 0 of KV kv (log kv-p0)" });
  t.after(() => store.close());
  assert.equal(text(store.get("a")!.value), "1", "refused, the store is left as it was");
});
