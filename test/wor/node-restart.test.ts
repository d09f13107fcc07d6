/**
 * A restart's cost does not grow with the data (issue 15, item 1): `load` reads the same entries
 * whatever the store holds (no address, no block digest), and a trim's range delete, once done, is
 * not walked again at the next load.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { committed, readBack } from "./storage-commit.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const OWNER = { round: 0, proposer: 0 };
const BATCH = 640;

/** A store holding `n` addresses of space t (written `BATCH` at a time), a range promise, and a trim at `trim` (its range delete done unless `crashBeforeClear`). */
async function store(n: number, trim: number, crashBeforeClear = false): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wor-node-restart-"));
  dirs.push(dir);
  const s = await LevelStorage.open(dir);
  await s.load();
  const state = emptyAcceptor();
  await committed(s, step(state, { kind: "createSpace", space: "t" }).persist);
  for (let from = 0; from < n; from += BATCH) {
    const entries = Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => ({ index: from + k, value: new Uint8Array(100).fill(k & 255) }));
    await committed(s, step(state, { kind: "accept", space: "t", ballot: OWNER, entries }).persist);
  }
  await committed(s, step(state, { kind: "prepare", space: "t", from: n, to: n + 100, ballot: { round: 1, proposer: 1 } }).persist);
  const trimmed = step(state, { kind: "trim", space: "t", below: trim }).persist;
  if (crashBeforeClear) await s.writeWithoutClear(trimmed);
  else await committed(s, trimmed);
  await s.close();
  return dir;
}

/** Open and load `dir`: what the load read and cleared. */
async function restart(dir: string): Promise<{ reads: number; clears: number; blockReads: number; storage: LevelStorage }> {
  const storage = await LevelStorage.open(dir);
  await storage.load();
  return { reads: storage.loadReads, clears: storage.loadClears, blockReads: storage.blockReads, storage };
}

describe("a restart reads only what is resident", () => {
  test("load reads the same entries from a store of 64 addresses and one of 12,800, and no block", async () => {
    const small = await restart(await store(64, 10));
    const large = await restart(await store(12_800, 6_400));
    assert.equal(large.reads, small.reads, "a restart read more from the larger store: it read addresses or block digests");
    assert.ok(small.reads >= 5 && small.reads <= 8, `identity, marker, space entries, trim mark, range promises, cleared mark: ${small.reads}`);
    assert.deepEqual([small.blockReads, large.blockReads], [0, 0]);
    assert.deepEqual([small.clears, large.clears], [0, 0], "the trims' range deletes were done: not walked again");
    assert.deepEqual(large.storage.summary("t"), { addresses: 6_400, highestAccepted: 12_799 });
    assert.equal(await large.storage.countAddressKeys("t"), 6_400);
    await small.storage.close();
    await large.storage.close();
  });

  test("a range delete a crash cut short is done by the next load, once", async () => {
    const dir = await store(1_280, 700, true);
    const first = await restart(dir);
    assert.equal(first.clears, 1, "the stale keys below the mark were cleared");
    assert.equal(await first.storage.countAddressKeys("t"), 580);
    assert.deepEqual([...(await readBack(first.storage, "t", 640, 768)).keys()].slice(0, 2), [700, 701]);
    await first.storage.close();
    const second = await restart(dir);
    assert.equal(second.clears, 0, "the cleared mark was kept: the next load does not walk the deleted range again");
    assert.equal(await second.storage.countAddressKeys("t"), 580);
    await second.storage.close();
  });
});
