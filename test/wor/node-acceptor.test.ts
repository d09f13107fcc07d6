import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Request } from "../../paxos/messages.ts";
import type { DecodedClientFrame, ServerFrame } from "../../wor/core/frames.ts";
import { AcceptorNode, type FrameSink, IdentityRefused } from "../../wor/node/acceptor-node.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { MemoryStorage } from "../../wor/node/storage-memory.ts";

const ME = { clusterId: "test", acceptorId: 1 };
const b = (round: number, proposer: number) => ({ round, proposer });
const v = (...xs: number[]) => new Uint8Array(xs);
const tick = () => new Promise((r) => setImmediate(r));
const req = (id: number, request: Request): DecodedClientFrame => ({ id, kind: "request", request });
/** Let the node read what the frames handed to it touch, then sync what they wrote. */
async function settle(storage: MemoryStorage): Promise<void> {
  await tick();
  storage.sync();
  await tick();
}

class ArraySink implements FrameSink {
  readonly sends: ServerFrame[][] = [];
  closed = false;
  send(frames: ServerFrame[]): void {
    assert.equal(this.closed, false, "send on a closed sink");
    this.sends.push(frames);
  }
  get frames(): ServerFrame[] {
    return this.sends.flat();
  }
  replies(): [number, string][] {
    return this.frames.map((f) => [f.id, f.kind === "reply" ? f.reply.kind : `${f.kind}@${f.index}`]);
  }
}

async function memoryNode(manualSync = true) {
  const storage = new MemoryStorage({ manualSync });
  const ready = AcceptorNode.open({ storage, identity: ME, init: true, checkInvariants: true });
  storage.sync();
  const node = await ready;
  return { storage, node };
}

/** Create space "s" and wait until it is durable. */
async function withSpace(storage: MemoryStorage, node: AcceptorNode) {
  const sink = new ArraySink();
  node.handle([req(1, { kind: "createSpace", space: "s" })], sink);
  storage.sync();
  await tick();
  assert.deepEqual(sink.replies(), [[1, "spaceCreated"]]);
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("AcceptorNode", () => {
  test("replies are never sent before the batch holding their mutations is durable", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const sink = new ArraySink();
    node.handle(
      [
        req(10, { kind: "prepare", space: "s", from: 0, to: 8, ballot: b(1, 1) }),
        req(11, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 3, value: v(0, 1, 0) }] }),
        { id: 12, kind: "invalid", error: { _tag: "CodecError", code: "invalid", message: "bad frame" } },
      ],
      sink,
    );
    await tick();
    assert.equal(storage.unsynced, 1);
    assert.deepEqual(sink.sends, [], "nothing leaves before the sync");
    // A read that arrives meanwhile sees the unsynced accept, so it waits for it too.
    const reader = new ArraySink();
    node.handle([req(20, { kind: "read", space: "s", from: 0, to: 8 })], reader);
    await tick();
    assert.deepEqual(reader.sends, []);
    await settle(storage);
    assert.equal(sink.sends.length, 1, "one receipt, one send per session");
    assert.deepEqual(sink.replies(), [
      [10, "promise"],
      [11, "voted"],
      [12, "error"],
    ]);
    const states = reader.frames[0];
    assert.ok(states?.kind === "reply" && states.reply.kind === "states");
    assert.deepEqual(states.reply.addresses[0]?.accepted?.value, v(0, 1, 0));
  });

  test("a request with nothing to persist is answered at once when nothing is in flight", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const sink = new ArraySink();
    node.handle([req(4, { kind: "read", space: "s", from: 4, to: 8 })], sink);
    await tick(); // the first read of a block waits for the storage
    sink.sends.length = 0;
    node.handle([req(5, { kind: "read", space: "s", from: 0, to: 4 }), req(6, { kind: "trim", space: "nope", below: 1 })], sink);
    assert.deepEqual(sink.replies(), [
      [5, "states"],
      [6, "error"],
    ]);
  });

  test("watch: catch-up of committed values in index order, then live pushes (accepted and learned values) once durable; unwatch stops", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const writer = new ArraySink();
    const entries = [4, 1, 2, 7].map((index) => ({ index, value: v(index, 0) }));
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(0, 0), entries }), req(2, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [4, 1, 2] })], writer);
    await settle(storage);

    const watcher = new ArraySink();
    node.handle([{ id: 50, kind: "watch", space: "s", from: 2 }], watcher);
    assert.deepEqual(watcher.replies(), [
      [50, "learned@2"],
      [50, "learned@4"],
    ]);
    // An accept of 8 and a commit of 7 that arrive while a batch is syncing go out to the watcher
    // only once that batch is durable (the commit flag itself is volatile, but pushes keep the order).
    node.handle([req(30, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 8, value: v(8) }] })], writer);
    node.handle([req(3, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [7] })], writer);
    await tick();
    assert.equal(watcher.frames.length, 2);
    await settle(storage);
    assert.deepEqual(watcher.replies().slice(2), [
      [50, "accepted@8"],
      [50, "learned@7"],
    ]);
    const accepted = watcher.frames[2];
    assert.ok(accepted?.kind === "accepted");
    assert.deepEqual([accepted.ballot, [...accepted.value]], [b(0, 0), [...v(8)]]);
    const last = watcher.frames.at(-1);
    assert.ok(last?.kind === "learned");
    assert.deepEqual([last.id, last.index, last.ballot, [...(last.value ?? [])]], [50, 7, b(0, 0), [7, 0]]);

    node.handle([{ id: 51, kind: "unwatch", watchId: 50 }], watcher);
    node.handle([req(4, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 9, value: v(9) }] })], writer);
    node.handle([req(5, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [9] })], writer);
    await settle(storage);
    await settle(storage);
    assert.equal(watcher.frames.length, 4, "no pushes after unwatch");
  });

  test("watch: a commit in flight when the watch arrives is delivered exactly once", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const writer = new ArraySink();
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 3, value: v(3) }] })], writer);
    await settle(storage);
    // Something else is syncing when the commit and then the watch arrive.
    node.handle([req(20, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 4, value: v(4) }] })], writer);
    node.handle([req(2, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [3] })], writer);
    const watcher = new ArraySink();
    node.handle([{ id: 9, kind: "watch", space: "s", from: 0 }], watcher);
    await tick();
    assert.deepEqual(watcher.frames, [], "the catch-up waits for the in-flight commit");
    await settle(storage);
    assert.deepEqual(watcher.replies(), [[9, "learned@3"]]);
  });

  test("watch: a commit of a value the watch was pushed as accepted comes without the value; any other commit carries it", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const writer = new ArraySink();
    // 0 is accepted before the watch: its commit is the only push of it that watch gets.
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 0, value: v(0) }] })], writer);
    await settle(storage);
    const watcher = new ArraySink();
    node.handle([{ id: 7, kind: "watch", space: "s", from: 0 }], watcher);
    node.handle([req(2, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 1, value: v(1) }] })], writer);
    // 2 is accepted twice at one ballot: which push its commit would mean is not certain.
    node.handle([req(3, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 2, value: v(2) }] })], writer);
    await settle(storage);
    node.handle([req(4, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 2, value: v(2) }] })], writer);
    await settle(storage);
    node.handle([req(5, { kind: "commit", space: "s", ballot: b(1, 1), indexes: [1, 2] }), req(6, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [0] })], writer);
    await settle(storage);
    const learned = watcher.frames.filter((f) => f.kind === "learned").map((f) => [f.index, f.ballot, f.value && [...f.value]]);
    assert.deepEqual(learned, [
      [1, b(1, 1), undefined],
      [2, b(1, 1), [...v(2)]],
      [0, b(0, 0), [...v(0)]],
    ]);
    // What a watch was told is bounded: past 4,096 accepted values the oldest commits carry their value.
    const ballot = b(1, 1);
    for (let from = 10; from < 10 + 4_097; from += 1_000) {
      const entries = Array.from({ length: Math.min(1_000, 10 + 4_097 - from) }, (_, i) => ({ index: from + i, value: v(9) }));
      node.handle([req(8, { kind: "accept", space: "s", ballot, entries })], writer);
      await settle(storage);
    }
    node.handle([req(9, { kind: "commit", space: "s", ballot, indexes: [10, 11, 4_106] })], writer);
    await settle(storage);
    const last = watcher.frames.filter((f) => f.kind === "learned").slice(3).map((f) => [f.index, f.value !== undefined]);
    assert.deepEqual(last, [
      [10, true],
      [11, false],
      [4_106, false],
    ]);
  });

  test("watch with skipOwn: the session's own accepts and their commits are not pushed to it; another session's are", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const self = new ArraySink();
    const other = new ArraySink();
    node.handle([{ id: 7, kind: "watch", space: "s", from: 0, skipOwn: true }], self);
    const mine = new ArraySink();
    node.handle([{ id: 8, kind: "watch", space: "s", from: 0 }], mine);
    // 1: this session's own; 2: another session's; 3: own, then another session's at a higher ballot.
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 1, value: v(1) }, { index: 3, value: v(3) }] })], self);
    node.handle([req(2, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 2, value: v(2) }] })], other);
    await settle(storage);
    node.handle([req(3, { kind: "accept", space: "s", ballot: b(2, 2), entries: [{ index: 3, value: v(4) }] })], other);
    await settle(storage);
    node.handle([req(4, { kind: "commit", space: "s", ballot: b(1, 1), indexes: [1, 2] }), req(5, { kind: "commit", space: "s", ballot: b(2, 2), indexes: [3] })], self);
    await settle(storage);
    const pushes = (s: ArraySink) => s.frames.filter((f) => f.kind !== "reply").map((f) => `${f.kind}@${f.index}${f.kind === "learned" && f.value === undefined ? " (no value)" : ""}`);
    assert.deepEqual(pushes(self), ["accepted@2", "accepted@3", "learned@2 (no value)", "learned@3 (no value)"]);
    // A watch without skipOwn on another session hears everything.
    assert.deepEqual(pushes(mine), ["accepted@1", "accepted@3", "accepted@2", "accepted@3", "learned@1 (no value)", "learned@2 (no value)", "learned@3 (no value)"]);
  });

  test("watch errors and closed sinks", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const sink = new ArraySink();
    node.handle([{ id: 1, kind: "watch", space: "unknown", from: 0 }], sink);
    node.handle([req(2, { kind: "trim", space: "s", below: 5 })], sink);
    await settle(storage);
    node.handle([{ id: 3, kind: "watch", space: "s", from: 2 }], sink);
    assert.deepEqual(sink.replies(), [
      [1, "error"],
      [2, "trimmed"],
      [3, "trimmed"],
    ]);
    const gone = new ArraySink();
    node.handle([{ id: 4, kind: "watch", space: "s", from: 5 }], gone);
    gone.closed = true;
    node.handle([req(5, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 6, value: v(6) }] }), req(6, { kind: "commit", space: "s", ballot: b(0, 0), indexes: [6] })], sink);
    await settle(storage);
    assert.deepEqual(gone.frames, [], "nothing is sent to a closed sink");
  });

  test("answers notReady until loaded, and status/inspect read the core state", async () => {
    const storage = new MemoryStorage();
    const node = new AcceptorNode({ storage, identity: ME, init: true });
    const sink = new ArraySink();
    node.handle([req(1, { kind: "createSpace", space: "s" })], sink);
    const first = sink.frames[0];
    assert.ok(first?.kind === "reply" && first.reply.kind === "error" && first.reply.code === "notReady");
    assert.deepEqual(await node.inspect({ space: "s", from: 0, to: 1 }), { ok: false, code: "notReady", message: "the acceptor is loading" });
    await node.load();
    node.handle([req(2, { kind: "createSpace", space: "s" }), req(3, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 5, value: v(5) }] })], sink);
    await node.close();
    assert.deepEqual(sink.replies().slice(1), [
      [2, "spaceCreated"],
      [3, "voted"],
    ]);
    const status = node.status();
    assert.equal(status.acceptorId, 1);
    assert.deepEqual(
      status.spaces.map((s) => [s.name, s.addresses, s.highestAccepted]),
      [
        ["$alloc/s", 0, -1],
        ["$meta/s", 0, -1],
        ["s", 1, 5],
      ],
    );
    const ins = await node.inspect({ space: "s", from: 0, to: 10 });
    assert.ok(ins.ok);
    assert.deepEqual(ins.value.addresses.map((a) => a.index), [5]);
    assert.equal((await node.inspect({ space: "zz", from: 0, to: 1 })).ok, false);
  });

  test("a failed commit stops the node: no reply for the lost batch, later frames get internal errors", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const failures: unknown[] = [];
    node.onFailure((e) => failures.push(e));
    const sink = new ArraySink();
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 1, value: v(1) }] })], sink);
    storage.failNextCommit();
    await settle(storage);
    assert.equal(failures.length, 1);
    assert.equal(node.ready, false);
    node.handle([req(2, { kind: "read", space: "s", from: 0, to: 2 })], sink);
    assert.deepEqual(sink.replies(), [[2, "error"]]);
  });

  test("state survives a restart over the same storage; unsynced state does not", async () => {
    const { storage, node } = await memoryNode();
    await withSpace(storage, node);
    const sink = new ArraySink();
    node.handle([req(1, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 1, value: v(1, 0, 0) }] })], sink);
    await settle(storage);
    node.handle([req(2, { kind: "accept", space: "s", ballot: b(0, 0), entries: [{ index: 2, value: v(2) }] })], sink);
    storage.crash();
    const node2 = await AcceptorNode.open({ storage, identity: ME, checkInvariants: true });
    const ins = await node2.inspect({ space: "s", from: 0, to: 10 });
    assert.ok(ins.ok);
    assert.deepEqual(ins.value.addresses.map((a) => [a.index, [...(a.accepted?.value ?? [])]]), [[1, [1, 0, 0]]]);
  });

  test("identity: a wiped data directory is refused; a foreign one too; init writes one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wor-node-identity-"));
    dirs.push(dir);
    const first = await AcceptorNode.open({ storage: await LevelStorage.open(dir), identity: ME, init: true });
    assert.equal(first.members?.identity.acceptorId, 1);
    await first.close();
    // Restarts need no init.
    const again = await AcceptorNode.open({ storage: await LevelStorage.open(dir), identity: ME });
    await again.close();
    const foreign = await LevelStorage.open(dir);
    await assert.rejects(AcceptorNode.open({ storage: foreign, identity: { clusterId: "test", acceptorId: 2 } }), (e: unknown) => e instanceof IdentityRefused && e.reason === "mismatch");
    await foreign.close();

    await rm(dir, { recursive: true, force: true });
    const wiped = await LevelStorage.open(dir);
    await assert.rejects(
      AcceptorNode.open({ storage: wiped, identity: ME }),
      (e: unknown) => e instanceof IdentityRefused && e.reason === "noIdentity" && /must not\s+rejoin/.test(e.message),
    );
    await wiped.close();
  });
});
