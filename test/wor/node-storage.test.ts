import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type AcceptorState, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import type { Mutation, Request } from "../../paxos/messages.ts";
import { SEAL_BYTES, decodeAddress, encodeAddress, unseal } from "../../wor/node/storage-codec.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { MemoryStorage } from "../../wor/node/storage-memory.ts";
import { committed, readBack } from "./storage-commit.ts";
import { replay } from "../../wor/node/storage.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "wor-node-storage-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const b = (round: number, proposer: number) => ({ round, proposer });
const bytes = (...xs: number[]) => new Uint8Array(xs);

/** Drive the core through a history that touches every kind of mutation; returns state + batches. */
function history(): { state: AcceptorState; batches: Mutation[][] } {
  const state = emptyAcceptor();
  const requests: Request[] = [
    { kind: "createSpace", space: "log" },
    { kind: "createSpace", space: "kv" },
    { kind: "prepare", space: "log", from: 0, to: 1000, ballot: b(1, 7) },
    { kind: "accept", space: "log", ballot: b(1, 7), entries: [0, 1, 2, 5, 20, 999].map((index) => ({ index, value: bytes(0, index & 255, 0, 0) })) },
    { kind: "commit", space: "log", ballot: b(1, 7), indexes: [0, 1, 20] },
    { kind: "prepare", space: "log", from: 500, to: 600, ballot: b(2, 3) },
    { kind: "prepare", space: "log", from: 30, to: 31, ballot: b(5, 1) },
    { kind: "accept", space: "kv", ballot: b(0, 0), entries: [{ index: 2 ** 40, value: bytes() }] },
    { kind: "accept", space: "$alloc/log", ballot: b(0, 0), entries: [{ index: 0, value: bytes(1, 0, 255) }] },
    { kind: "trim", space: "log", below: 2 },
    { kind: "prepare", space: "kv", from: 7, to: 8, ballot: b(Number.MAX_SAFE_INTEGER, 2 ** 53 - 2) },
  ];
  const batches: Mutation[][] = [];
  for (const r of requests) {
    const out = step(state, r);
    if (r.kind === "commit") {
      // Commit flags are volatile in the core; they reach the disk with the address's next write.
      assert.equal(out.persist.length, 0, "a commit persists nothing by itself");
      const log = state.spaces.get("log")!;
      batches.push(r.indexes.map((index) => ({ kind: "address", space: "log", index, state: log.addresses.get(index)! })));
      continue;
    }
    assert.notEqual(out.persist.length, 0, `${r.kind} should persist something`);
    batches.push([...out.persist]);
  }
  return { state, batches };
}

describe("LevelStorage", () => {
  test("round trip: reload rebuilds the identical core state (ranges, trims, committed flags, binary values)", async () => {
    const dir = await tempDir();
    const { state, batches } = history();
    const s1 = await LevelStorage.open(dir);
    assert.equal((await s1.load()).identity, undefined);
    await s1.writeIdentity({ clusterId: "c1", acceptorId: 3, createdAt: "2024-01-01T00:00:00.000Z" });
    const receipts = [];
    for (const batch of batches) receipts.push(await committed(s1, batch));
    // Batch 1 wrote the identity; every commit is the next numbered batch.
    assert.deepEqual(
      receipts.map((r) => r.batch),
      batches.map((_, i) => i + 2),
    );
    await s1.close();

    const s2 = await LevelStorage.open(dir);
    const loaded = await s2.load();
    assert.deepEqual(loaded.identity, { clusterId: "c1", acceptorId: 3, createdAt: "2024-01-01T00:00:00.000Z" });
    assert.ok(
      loaded.mutations.every((m) => m.kind !== "address"),
      "a load reads no address",
    );
    const rebuilt = replay(loaded.mutations);
    // What a load returns, and then what reads return, is the state the history built.
    for (const [name, space] of rebuilt.spaces) {
      const want = state.spaces.get(name)!;
      assert.deepEqual([space.trimMark, space.ranges], [want.trimMark, want.ranges], name);
      for (const [from, to] of [[0, 1024], [2 ** 40, 2 ** 40 + 64]] as const) {
        const got = await readBack(s2, name, from, to);
        const expected = [...want.addresses].filter(([i]) => i >= from && i < to);
        assert.deepEqual([...got].sort(([a], [b]) => a - b), expected.sort(([a], [b]) => a - b), `${name}[${from}, ${to})`);
      }
    }
    const log = await readBack(s2, "log", 0, 1024);
    assert.equal(rebuilt.spaces.get("log")!.trimMark, 2);
    assert.equal(log.has(0), false);
    assert.equal(log.get(20)?.committed, true);
    assert.deepEqual(log.get(20)?.accepted?.value, bytes(0, 20, 0, 0));
    assert.deepEqual(rebuilt.spaces.get("log")!.ranges.map((r) => [r.from, r.to]), [[0, 1000], [500, 600]]);
    assert.deepEqual((await readBack(s2, "kv", 2 ** 40, 2 ** 40 + 64)).get(2 ** 40)?.accepted?.value, bytes());
    assert.deepEqual((await readBack(s2, "kv", 0, 64)).get(7)?.promised, b(Number.MAX_SAFE_INTEGER, 2 ** 53 - 2));
    assert.deepEqual(s2.summary("log"), { addresses: 5, highestAccepted: 999 }, "status counts survive the restart");
    assert.equal((await committed(s2, [{ kind: "space", space: "after" }])).batch, batches.length + 2, "numbering continues after a restart");
    await s2.close();
  });

  test("trim range-deletes the address keys below the mark", async () => {
    const s = await LevelStorage.open(await tempDir());
    await s.load();
    const state = emptyAcceptor();
    await committed(s, step(state, { kind: "createSpace", space: "t" }).persist);
    await committed(s, step(state, { kind: "accept", space: "t", ballot: b(0, 0), entries: [1, 2, 3, 4, 300].map((index) => ({ index, value: bytes(index & 255) })) }).persist);
    assert.equal(await s.countAddressKeys("t"), 5);
    await committed(s, step(state, { kind: "trim", space: "t", below: 4 }).persist);
    assert.equal(await s.countAddressKeys("t"), 2);
    await s.close();
  });

  test("a crash between a trim's batch and its range delete loses nothing and resurrects nothing", async () => {
    const dir = await tempDir();
    const s1 = await LevelStorage.open(dir);
    await s1.load();
    const state = emptyAcceptor();
    await committed(s1, step(state, { kind: "createSpace", space: "t" }).persist);
    const accepted = step(state, { kind: "accept", space: "t", ballot: b(0, 0), entries: [1, 2, 3, 9].map((index) => ({ index, value: bytes(index) })) });
    await committed(s1, accepted.persist);
    // The trim's synced batch lands, the (unsynced) clear does not.
    await s1.writeWithoutClear([{ kind: "trim", space: "t", mark: 3 }]);
    assert.equal(await s1.countAddressKeys("t"), 4);
    await s1.close();

    const s2 = await LevelStorage.open(dir);
    const rebuilt = replay((await s2.load()).mutations);
    assert.equal(rebuilt.spaces.get("t")!.trimMark, 3);
    assert.deepEqual([...(await readBack(s2, "t", 0, 64)).keys()].sort((x, y) => x - y), [3, 9]);
    assert.equal(await s2.countAddressKeys("t"), 2, "load cleared the stale keys");
    await s2.close();
  });

  test("a trim over blocks the storage does not hold: counts, the mark's block digest and the range delete are right after restarts", async () => {
    const dir = await tempDir();
    const s1 = await LevelStorage.open(dir);
    await s1.load();
    const state = emptyAcceptor();
    await committed(s1, step(state, { kind: "createSpace", space: "t" }).persist);
    for (let from = 0; from < 640; from += 64) {
      const entries = Array.from({ length: 64 }, (_, k) => ({ index: from + k, value: bytes(k) }));
      await committed(s1, step(state, { kind: "accept", space: "t", ballot: b(0, 0), entries }).persist);
    }
    assert.deepEqual(s1.summary("t"), { addresses: 640, highestAccepted: 639 });
    await s1.close();

    const s2 = await LevelStorage.open(dir);
    await s2.load();
    await committed(s2, [{ kind: "trim", space: "t", mark: 300 }]);
    assert.deepEqual(s2.summary("t"), { addresses: 340, highestAccepted: 639 });
    assert.equal(await s2.countAddressKeys("t"), 340);
    await s2.close();

    const s3 = await LevelStorage.open(dir);
    await s3.load();
    assert.deepEqual(s3.summary("t"), { addresses: 340, highestAccepted: 639 });
    const left = await readBack(s3, "t", 256, 704);
    assert.deepEqual([...left.keys()].sort((x, y) => x - y), Array.from({ length: 340 }, (_, k) => 300 + k), "the block holding the mark checks out");
    await committed(s3, [{ kind: "trim", space: "t", mark: 700 }]);
    assert.deepEqual(s3.summary("t"), { addresses: 0, highestAccepted: -1 });
    await s3.close();
  });

  test("address values encode compactly, sealed under their key, and decode exactly", () => {
    const value = bytes(0, 0, 1, 0);
    const s = { promised: b(9, 4), accepted: { ballot: b(9, 4), value }, committed: true };
    const key = "a/log/0000000000000011";
    const enc = encodeAddress(key, s);
    assert.equal(enc.byteLength, 33 + value.byteLength + SEAL_BYTES);
    assert.deepEqual(decodeAddress(unseal(key, enc)!), s);
    assert.equal(unseal("a/log/0000000000000012", enc), undefined, "the seal covers the key");
    enc[33] = 9;
    assert.equal(unseal(key, enc), undefined, "the seal covers the value");
    assert.deepEqual(decodeAddress(unseal(key, encodeAddress(key, { promised: b(1, 1), committed: false }))!), { promised: b(1, 1), committed: false });
    assert.throws(() => decodeAddress(bytes(8, ...new Array(16).fill(0))), /flags/);
  });
});

describe("MemoryStorage", () => {
  test("manual sync: receipts only after sync; a crash drops unsynced batches", async () => {
    const s = new MemoryStorage({ manualSync: true });
    const state = emptyAcceptor();
    let receipted = 0;
    const first = committed(s, step(state, { kind: "createSpace", space: "m" }).persist).then(() => receipted++);
    await new Promise((r) => setImmediate(r));
    assert.equal(receipted, 0);
    assert.equal(s.sync(), 1);
    await first;
    assert.equal(receipted, 1);
    const lost = committed(s, step(state, { kind: "accept", space: "m", ballot: b(0, 0), entries: [{ index: 1, value: bytes(1) }] }).persist);
    s.crash();
    await assert.rejects(lost, /crash/);
    const rebuilt = replay((await s.load()).mutations);
    assert.equal((await readBack(s, "m", 0, 64)).size, 0);
    assert.equal(rebuilt.spaces.has("$alloc/m"), true);
  });

  test("a failed sync rejects the commit", async () => {
    const s = new MemoryStorage({ manualSync: true });
    const p = committed(s, [{ kind: "space", space: "x" }]);
    s.failNextCommit();
    s.sync();
    await assert.rejects(p, /fsync/);
    assert.equal((await s.load()).mutations.length, 0);
  });
});
