import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mintReceipt } from "../../paxos/held.ts";
import type { Mutation } from "../../paxos/messages.ts";
import { plantBugForTest } from "../../verify/runtime/planted.ts";
import { GroupCommit } from "../../wor/node/group-commit.ts";
import type { AcceptorStorage, CommitDone, Loaded, NodeIdentity } from "../../wor/node/storage.ts";

/** A storage whose commits complete only when the test says so. */
class ManualStorage implements Pick<AcceptorStorage, "load" | "commit" | "writeIdentity" | "close"> {
  readonly pending: { batch: readonly Mutation[]; done: CommitDone }[] = [];
  readonly committed: (readonly Mutation[])[] = [];
  private n = 0;
  async load(): Promise<Loaded> {
    return { identity: undefined, mutations: [] };
  }
  commit(batch: readonly Mutation[], done: CommitDone): void {
    this.pending.push({ batch, done });
  }
  /** Complete the oldest commit; returns its batch. */
  resolveNext(): readonly Mutation[] {
    const p = this.pending.shift();
    assert.ok(p, "no commit is pending");
    this.committed.push(p.batch);
    p.done(mintReceipt(++this.n));
    return p.batch;
  }
  failNext(): void {
    this.pending.shift()!.done(new Error("fsync failed"));
  }
  async writeIdentity(_id: NodeIdentity): Promise<void> {}
  async close(): Promise<void> {}
}

const m = (space: string): Mutation => ({ kind: "space", space });
const tick = () => new Promise((r) => setImmediate(r));

describe("GroupCommit", () => {
  test("submissions that arrive during a sync form the next batch; callbacks wait for their batch", async () => {
    const storage = new ManualStorage();
    const gc = new GroupCommit(storage);
    const fired: string[] = [];
    gc.submit([m("a")], () => fired.push("a"));
    assert.equal(storage.pending.length, 1);
    for (const s of ["b", "c", "d", "e"]) gc.submit([m(s)], () => fired.push(s));
    // One commit in flight at a time; the rest queue.
    assert.equal(storage.pending.length, 1);
    await tick();
    assert.deepEqual(fired, [], "no callback before its batch's commit resolved");
    assert.deepEqual(storage.resolveNext(), [m("a")]);
    await tick();
    assert.deepEqual(fired, ["a"]);
    assert.equal(storage.pending.length, 1, "the queued submissions went to disk as one batch");
    assert.deepEqual(storage.pending[0]!.batch, [m("b"), m("c"), m("d"), m("e")]);
    storage.resolveNext();
    await tick();
    assert.deepEqual(fired, ["a", "b", "c", "d", "e"]);
    assert.equal(gc.counters.commits, 2);
    assert.equal(gc.counters.submissions, 5);
    assert.ok(gc.counters.commits < gc.counters.submissions);
  });

  test("an empty submission fires at once when idle, but waits behind an in-flight batch", async () => {
    const storage = new ManualStorage();
    const gc = new GroupCommit(storage);
    gc.submit([m("a")], () => {});
    storage.resolveNext();
    await tick();
    let idleFired = false;
    gc.submit([], () => (idleFired = true));
    assert.equal(idleFired, true, "nothing in flight: no disk write needed");
    assert.equal(storage.pending.length, 0);

    const order: string[] = [];
    gc.submit([m("b")], () => order.push("b"));
    gc.submit([], () => order.push("read"));
    await tick();
    assert.deepEqual(order, [], "the read's reply may depend on b: it must wait");
    storage.resolveNext();
    await tick();
    assert.deepEqual(order, ["b", "read"]);
    assert.equal(storage.pending.length, 0, "the empty submission did not cost a commit");
  });

  test("the first empty submission, before any receipt exists, goes through storage", async () => {
    const storage = new ManualStorage();
    const gc = new GroupCommit(storage);
    let fired = false;
    gc.submit([], () => (fired = true));
    assert.equal(fired, false);
    assert.equal(storage.pending.length, 1);
    storage.resolveNext();
    await tick();
    assert.equal(fired, true);
  });

  test("a storage may complete an empty commit at once; later batches keep their order", async () => {
    const storage = new ManualStorage();
    const commit = storage.commit.bind(storage);
    storage.commit = (batch, done) => (batch.length === 0 ? done(mintReceipt(0)) : commit(batch, done));
    const gc = new GroupCommit(storage);
    const order: string[] = [];
    gc.submit([], () => order.push("first read"));
    assert.deepEqual(order, ["first read"], "nothing was pending: the receipt came at once");
    gc.submit([m("a")], () => order.push("a"));
    gc.submit([], () => order.push("read"));
    gc.submit([m("b")], () => order.push("b"));
    assert.deepEqual(order, ["first read"]);
    storage.resolveNext();
    storage.resolveNext();
    assert.deepEqual(order, ["first read", "a", "read", "b"]);
    await gc.idle();
  });

  test("the planted bugs break exactly these rules: replyBeforePersist fires before the commit, readAheadOfSync overtakes it", () => {
    const early = plantBugForTest("replyBeforePersist", () => {
      const storage = new ManualStorage();
      const gc = new GroupCommit(storage);
      const fired: string[] = [];
      gc.submit([m("a")], () => fired.push("a"));
      return { fired, pending: storage.pending.length };
    });
    assert.deepEqual(early, { fired: ["a"], pending: 1 }, "the callback ran while its batch was still in flight");
    const ahead = plantBugForTest("readAheadOfSync", () => {
      const storage = new ManualStorage();
      const gc = new GroupCommit(storage);
      const fired: string[] = [];
      gc.submit([m("a")], () => fired.push("a"));
      storage.resolveNext();
      gc.submit([m("b")], () => fired.push("b"));
      gc.submit([], () => fired.push("read"));
      return fired;
    });
    assert.deepEqual(ahead, ["a", "read"], "the read's reply left before b, which it may report, was durable");
  });

  test("batches respect batchMutationsMax, split at submissions, and one oversize submission is chunked", async () => {
    const storage = new ManualStorage();
    const gc = new GroupCommit(storage, { batchMutationsMax: 3 });
    const fired: number[] = [];
    gc.submit([m("x")], () => fired.push(0));
    gc.submit([m("a"), m("b")], () => fired.push(1));
    gc.submit([m("c"), m("d")], () => fired.push(2));
    gc.submit([m("e"), m("f"), m("g"), m("h"), m("i")], () => fired.push(3));
    const sizes: number[] = [];
    while (storage.pending.length > 0) {
      sizes.push(storage.resolveNext().length);
      await tick();
    }
    assert.deepEqual(sizes, [1, 2, 2, 3, 2]);
    assert.deepEqual(fired, [0, 1, 2, 3]);
    assert.ok(sizes.every((s) => s <= 3));
  });

  test("a failed commit is fatal: no callback fires, later submissions are dropped", async () => {
    const storage = new ManualStorage();
    const fatal: unknown[] = [];
    const gc = new GroupCommit(storage, { onFatal: (e) => fatal.push(e) });
    let fired = 0;
    gc.submit([m("a")], () => fired++);
    gc.submit([m("b")], () => fired++);
    storage.failNext();
    await tick();
    assert.equal(fatal.length, 1);
    assert.match(String(gc.failure), /fsync failed/);
    gc.submit([m("c")], () => fired++);
    gc.submit([], () => fired++);
    await tick();
    assert.equal(fired, 0);
    assert.equal(storage.pending.length, 0);
    await gc.idle();
  });

  test("afterBatch runs once per batch, after that batch's callbacks", async () => {
    const storage = new ManualStorage();
    const log: string[] = [];
    const gc = new GroupCommit(storage, { afterBatch: () => log.push("flush") });
    gc.submit([m("a")], () => log.push("a"));
    gc.submit([m("b")], () => log.push("b"));
    gc.submit([m("c")], () => log.push("c"));
    storage.resolveNext();
    await tick();
    storage.resolveNext();
    await tick();
    assert.deepEqual(log, ["a", "flush", "b", "c", "flush"]);
    const idle = gc.idle();
    await idle;
    assert.equal(gc.busy, false);
  });

  test("with nextTurn, a batch that finds the disk idle waits while turns bring submissions: concurrent sessions share one sync", async () => {
    const storage = new ManualStorage();
    const turns: (() => void)[] = [];
    const endTurn = () => {
      for (const run of turns.splice(0)) run();
    };
    const gc = new GroupCommit(storage, { nextTurn: (run) => turns.push(run) });
    const fired: string[] = [];
    const submit = (s: string) => gc.submit([m(s)], () => fired.push(s));
    submit("a");
    submit("b");
    assert.equal(storage.pending.length, 0, "the first submission on an idle disk does not sync alone");
    assert.equal(gc.busy, true);
    endTurn(); // this turn's input is in; one more turn always
    submit("c");
    endTurn(); // that turn brought c: one more
    assert.equal(storage.pending.length, 0);
    endTurn(); // a turn with nothing new: start
    assert.deepEqual(storage.pending.map((p) => p.batch), [[m("a"), m("b"), m("c")]]);
    // While a sync is in flight nothing lingers: the next batch starts when it is durable (self-clocking).
    submit("d");
    storage.resolveNext();
    assert.deepEqual(storage.pending.map((p) => p.batch), [[m("d")]]);
    assert.equal(turns.length, 0);
    storage.resolveNext();
    await tick();
    assert.deepEqual(fired, ["a", "b", "c", "d"]);
    // A lone submission starts after two turns; one arriving every turn waits at most idleTurnsMax (8).
    submit("e");
    endTurn();
    endTurn();
    assert.deepEqual(storage.pending.map((p) => p.batch), [[m("e")]]);
    storage.resolveNext();
    submit("f0");
    for (let t = 1; t < 8; t++) {
      endTurn();
      submit(`f${t}`);
    }
    endTurn();
    assert.equal(storage.pending.length, 1, "the wait is bounded");
    assert.equal(storage.pending[0]!.batch.length, 8);
    assert.equal(gc.counters.lingered, 3);
    storage.resolveNext();
    await gc.idle();
    assert.equal(gc.busy, false);
  });
});
