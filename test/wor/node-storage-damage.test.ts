/**
 * Damaged storage is refused, never served (issue 8, item 2). Real damage on real classic-level
 * directories: the LevelDB log truncated or with bytes flipped, the store's files replaced by an
 * older copy, a byte flipped inside a stored value. And no false positive: restarts, a trimmed
 * space, a crash that lost the witness's last record or tore the last unacknowledged batch.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ClassicLevel } from "classic-level";
import { emptyAcceptor, step } from "../../paxos/acceptor.ts";
import type { AcceptorState } from "../../paxos/acceptor.ts";
import type { AddressState } from "../../paxos/messages.ts";
import { AcceptorNode, IdentityRefused } from "../../wor/node/acceptor-node.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { committed, readBack } from "./storage-commit.ts";
import { replay } from "../../wor/node/storage.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "wor-node-damage-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const ME = { clusterId: "dmg", acceptorId: 1 };
const SPACE = "s";
const PER_BATCH = 4;
/** The witness file's name and slot offsets (wor/node/witness.ts), spelled out: damage is done from outside. */
const WITNESS = "WITNESS";
const SLOT_STRIDE = 512;

/** A store being written as an acceptor writes it: an identity, a space, then batches of accepts. */
class Writer {
  readonly state: AcceptorState = emptyAcceptor();
  /** Every value acknowledged (its commit resolved), by address. */
  readonly acked = new Map<number, Uint8Array>();
  private next = 0;
  private constructor(readonly storage: LevelStorage) {}

  static async create(dir: string): Promise<Writer> {
    const storage = await LevelStorage.open(dir);
    await storage.load();
    await storage.writeIdentity({ ...ME, createdAt: "2026-01-01T00:00:00.000Z" });
    const w = new Writer(storage);
    await committed(storage, step(w.state, { kind: "createSpace", space: SPACE }).persist);
    return w;
  }

  /** `n` batches of PER_BATCH random 100-byte values (incompressible: they show up verbatim on disk). */
  async batches(n: number): Promise<void> {
    for (let k = 0; k < n; k++) {
      const entries = Array.from({ length: PER_BATCH }, () => ({ index: this.next++, value: new Uint8Array(randomBytes(100)) }));
      await committed(this.storage, step(this.state, { kind: "accept", space: SPACE, ballot: { round: 0, proposer: 0 }, entries }).persist);
      for (const e of entries) this.acked.set(e.index, e.value);
    }
  }
}

/** What a restart finds: the space's trim mark, and its addresses as reads return them. */
interface Reloaded {
  readonly trimMark: number;
  readonly addresses: ReadonlyMap<number, AddressState>;
}

/** Every address this file's writers use lies below this (200 batches of PER_BATCH). */
const TOP = 1024;

/** Open, load, read every block of the space, close; or the rejection of the load or of a read. */
async function reload(dir: string): Promise<Reloaded> {
  const s = await LevelStorage.open(dir);
  try {
    const state = replay((await s.load()).mutations);
    return { trimMark: state.spaces.get(SPACE)!.trimMark, addresses: await readBack(s, SPACE, 0, TOP) };
  } finally {
    await s.close();
  }
}

/** Loading `dir` is refused as damaged, with a message matching `why`; twice (the refusal sticks). */
async function refused(dir: string, why: RegExp): Promise<string> {
  let message = "";
  for (let k = 0; k < 2; k++) {
    await assert.rejects(reload(dir), (e: Error) => {
      assert.equal(e.name, "StorageDamaged", `expected a damage refusal, got ${e.stack}`);
      assert.match(e.message, why);
      message = e.message;
      return true;
    });
  }
  return message;
}

async function logFile(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((f) => f.endsWith(".log"));
  assert.equal(logs.length, 1, `one LevelDB log in ${dir}: ${logs}`);
  return join(dir, logs[0]!);
}

async function overwrite(path: string, at: number, bytes: Uint8Array): Promise<void> {
  const f = await open(path, "r+");
  try {
    await f.write(bytes, 0, bytes.byteLength, at);
  } finally {
    await f.close();
  }
}

/** Every value in `acked` reads back identically. */
function assertHolds(state: Reloaded, acked: ReadonlyMap<number, Uint8Array>): void {
  for (const [index, value] of acked) assert.deepEqual(state.addresses.get(index)?.accepted?.value, value, `address ${index}`);
}

describe("LevelStorage refuses damaged storage", () => {
  test("the log truncated to half: acknowledged batches at its end are gone", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(200);
    await w.storage.close();
    const log = await logFile(dir);
    await truncate(log, Math.floor((await stat(log)).size / 2));
    const why = await refused(dir, /^batch (\d+) was acknowledged but the store ends at batch (\d+)$/);
    const [, acked, end] = /batch (\d+) .* batch (\d+)/.exec(why)!.map(Number);
    assert.equal(acked, 202, "identity, space, 200 accept batches");
    assert.ok(end! > 2 && end! < 202, why);
  });

  test("64 bytes flipped in the middle of the log: LevelDB drops the records silently, the gap is found", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(200);
    await w.storage.close();
    const log = await logFile(dir);
    const size = (await stat(log)).size;
    await overwrite(log, Math.floor(size / 2), new Uint8Array(randomBytes(64)).map((x) => x | 1));
    await refused(dir, /^batch \d+ is missing: the store holds batch \d+ and later batches up to 202$/);
  });

  test("the store's files replaced by an older copy of themselves", async () => {
    const dir = await tempDir();
    const old = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(20);
    await w.storage.close();
    await cp(dir, old, { recursive: true });
    const s = await LevelStorage.open(dir);
    await s.load();
    await committed(s, [{ kind: "space", space: "later" }]);
    await committed(s, [{ kind: "space", space: "later2" }]);
    await s.close();
    // Restore every file LevelDB owns from the older copy; the witness stays.
    for (const f of await readdir(dir)) if (f !== WITNESS) await rm(join(dir, f), { recursive: true });
    for (const f of await readdir(old)) if (f !== WITNESS) await cp(join(old, f), join(dir, f), { recursive: true });
    await refused(dir, /^batch 24 was acknowledged but the store ends at batch 22$/);
  });

  test("a byte flipped inside a stored value (in a table, which LevelDB reads without checking)", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(20);
    await w.storage.close();
    await reload(dir); // recovery moves the log into a table file
    const tables = (await readdir(dir)).filter((f) => f.endsWith(".ldb"));
    assert.equal(tables.length, 1, `one table: ${tables}`);
    const table = join(dir, tables[0]!);
    const bytes = await readFile(table);
    const victim = w.acked.get(41)!;
    const at = bytes.indexOf(victim.subarray(40, 60));
    assert.ok(at > 0, "the value's bytes are in the table verbatim");
    await overwrite(table, at + 10, Uint8Array.of(bytes[at + 10]! ^ 0x10));
    await refused(dir, /^the stored value of address 41 of space s fails its checksum$/);
  });

  test("a node starts on a store whose damage lies in an address block, stops when it reads the block, and is refused from then on", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(20);
    await w.storage.close();
    await reload(dir); // recovery moves the log into a table file
    const table = join(dir, (await readdir(dir)).find((f) => f.endsWith(".ldb"))!);
    const bytes = await readFile(table);
    const at = bytes.indexOf(w.acked.get(41)!.subarray(40, 60));
    await overwrite(table, at + 10, Uint8Array.of(bytes[at + 10]! ^ 0x10));

    const storage = await LevelStorage.open(dir);
    const node = await AcceptorNode.open({ storage, identity: ME });
    const failed = new Promise<unknown>((resolve) => node.onFailure(resolve));
    const sent: unknown[] = [];
    node.handle([{ id: 1, kind: "request", request: { kind: "read", space: SPACE, from: 40, to: 44 } }], { closed: false, send: (f) => sent.push(...f) });
    const error = await failed;
    assert.ok(error instanceof Error && error.name === "StorageDamaged", String(error));
    assert.equal(error.message, "the stored value of address 41 of space s fails its checksum");
    assert.deepEqual(sent, [], "nothing read from the damaged block was served");
    await node.close();
    const again = await LevelStorage.open(dir);
    await assert.rejects(AcceptorNode.open({ storage: again, identity: ME }), (e: unknown) => {
      assert.ok(e instanceof IdentityRefused && e.reason === "damaged", String(e));
      assert.match(e.message, /^the data directory is damaged: the stored value of address 41 of space s fails its checksum\. /);
      return true;
    });
    await again.close();
  });

  test("an entry that vanished, or an older version of it that came back (LevelDB's tags lie outside the seals)", async () => {
    // A flipped bit in a table can turn an entry into a deletion or let an older version win:
    // LevelDB keeps each key's sequence number and value/deletion tag outside our seal. Done here
    // through LevelDB itself, so that the damage lands exactly there.
    const raw = async (dir: string, f: (db: ClassicLevel<string, Uint8Array>) => Promise<void>) => {
      const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
      await db.open();
      try {
        await f(db);
      } finally {
        await db.close();
      }
    };
    const key = "a/s/0000000000000005";

    const vanished = await tempDir();
    const w = await Writer.create(vanished);
    await w.batches(5);
    await w.storage.close();
    await raw(vanished, (db) => db.del(key));
    // A load reads no address: it starts; the read of the block finds the damage, and from then on
    // the directory is refused at load too (the damage mark).
    const started = await LevelStorage.open(vanished);
    await started.load();
    await assert.rejects(readBack(started, SPACE, 0, 64), /^StorageDamaged: the stored addresses \[0, 64\) of space s do not match their digest: an entry vanished or changed, or an older version of one came back$/);
    await started.close();
    await refused(vanished, /^the stored addresses \[0, 64\) of space s do not match their digest/);

    const older = await tempDir();
    const o = await Writer.create(older);
    await o.batches(5);
    let before: Uint8Array | undefined;
    await o.storage.close();
    await raw(older, async (db) => {
      before = await db.get(key);
    });
    const s = await LevelStorage.open(older);
    await s.load();
    await committed(s, step(o.state, { kind: "prepare", space: SPACE, from: 0, to: 8, ballot: { round: 3, proposer: 1 } }).persist);
    await committed(s, step(o.state, { kind: "accept", space: SPACE, ballot: { round: 3, proposer: 1 }, entries: [{ index: 5, value: Uint8Array.of(5) }] }).persist);
    await s.close();
    await raw(older, (db) => db.put(key, before!));
    await refused(older, /^the stored addresses \[0, 64\) of space s do not match their digest/);

    // A resident entry (here the range promises) is checked at load, by the marker's digest.
    const resident = await tempDir();
    const r = await Writer.create(resident);
    await committed(r.storage, step(r.state, { kind: "prepare", space: SPACE, from: 0, to: 8, ballot: { round: 3, proposer: 1 } }).persist);
    await r.storage.close();
    await raw(resident, (db) => db.del("r/s"));
    await refused(resident, /^the store's entries do not match the digest batch 3 recorded: an entry vanished or changed, or an older version of one came back$/);
  });

  test("a store emptied while its witness stayed; a witness file deleted or damaged", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(3);
    await w.storage.close();
    const witness = await readFile(join(dir, WITNESS));

    await rm(join(dir, WITNESS));
    await refused(dir, /^its witness file WITNESS is missing$/);
    await writeFile(join(dir, WITNESS), witness.subarray(0, 16));
    await refused(dir, /^the witness file has 16 bytes, not 528$/);
    const torn = new Uint8Array(witness);
    torn[4] = torn[4]! ^ 1;
    torn[SLOT_STRIDE + 4] = torn[SLOT_STRIDE + 4]! ^ 1;
    await writeFile(join(dir, WITNESS), torn);
    await refused(dir, /^both slots of the witness file fail their checksum$/);

    await writeFile(join(dir, WITNESS), witness);
    for (const f of await readdir(dir)) if (f !== WITNESS) await rm(join(dir, f), { recursive: true });
    await refused(dir, /^batch 5 was acknowledged but the store is empty$/);
  });

  test("the node refuses a damaged directory like a wiped one, with init too", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(50);
    await w.storage.close();
    const log = await logFile(dir);
    await truncate(log, Math.floor((await stat(log)).size / 2));
    for (const init of [false, true]) {
      const storage = await LevelStorage.open(dir);
      await assert.rejects(AcceptorNode.open({ storage, identity: ME, init }), (e: unknown) => {
        assert.ok(e instanceof IdentityRefused && e.reason === "damaged", String(e));
        assert.match(e.message, /^the data directory is damaged: batch 52 was acknowledged but the store ends at batch \d+\. /);
        assert.match(e.message, /must not rejoin under its old id/);
        return true;
      });
      await storage.close();
    }
  });
});

describe("LevelStorage does not refuse sound storage", () => {
  test("restarts, trims and stale keys below a trim mark load; numbering continues", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(10);
    await committed(w.storage, step(w.state, { kind: "trim", space: SPACE, below: 8 }).persist);
    await w.storage.close();
    for (let round = 0; round < 3; round++) {
      const s = await LevelStorage.open(dir);
      const state = replay((await s.load()).mutations);
      assert.equal(state.spaces.get(SPACE)!.trimMark, 8 + round);
      assertHolds({ trimMark: 8 + round, addresses: await readBack(s, SPACE, 0, TOP) }, new Map([...w.acked].filter(([i]) => i >= 8 + round)));
      // A trim whose range delete a crash cut off: its keys stay below the mark, and load copes.
      await s.writeWithoutClear([{ kind: "trim", space: SPACE, mark: 9 + round }]);
      assert.ok((await s.countAddressKeys(SPACE)) > w.acked.size - 9 - round);
      await s.close();
    }
    const state = await reload(dir);
    assert.equal(state.trimMark, 11);
    assert.equal(state.addresses.size, w.acked.size - 11);
  });

  test("a power loss: the witness lost its last records and the last (unacknowledged) batch is torn", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(30);
    const lastValues = [...w.acked].slice(-PER_BATCH);
    await w.storage.close();
    // The disk kept an older witness (its writes are not synced) ...
    const witness = await readFile(join(dir, WITNESS));
    const older = await tempDir();
    const o = await Writer.create(older);
    await o.batches(28); // a witness that recorded batch 30 (2 + 28), in both slots' parity pattern
    await o.storage.close();
    await writeFile(join(dir, WITNESS), await readFile(join(older, WITNESS)));
    assert.notDeepEqual(await readFile(join(dir, WITNESS)), witness);
    // ... and the log's last record, batch 32, was only half written.
    const log = await logFile(dir);
    await truncate(log, (await stat(log)).size - 60);
    const state = await reload(dir);
    assertHolds(state, new Map([...w.acked].slice(0, -PER_BATCH)));
    for (const [index] of lastValues) assert.equal(state.addresses.has(index), false);
    // It goes on from batch 31, and restarts stay clean.
    const s = await LevelStorage.open(dir);
    await s.load();
    assert.equal((await committed(s, [{ kind: "space", space: "next" }])).batch, 32);
    await s.close();
    await reload(dir);
  });

  test("one torn witness slot: the other, one batch older, is used", async () => {
    const dir = await tempDir();
    const w = await Writer.create(dir);
    await w.batches(7); // last batch 9: slot 1 holds 9, slot 0 holds 8
    await w.storage.close();
    await overwrite(join(dir, WITNESS), SLOT_STRIDE + 6, Uint8Array.of(0xff, 0xff));
    assertHolds(await reload(dir), w.acked);
  });
});
