/**
 * The key gate (apps/kv/node/key-gate.ts) over a partition's locks (apps/kv/core/book.ts): a write
 * waits for a locked key and is then on its way; a lock taken after it waits until it settles; a
 * read waits for a locked key; every wait ends with its signal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PartitionBook } from "../../../apps/kv/core/book.ts";
import { KeyGate } from "../../../apps/kv/node/key-gate.ts";

const one = (k: string) => ({ from: k, to: `${k}\u0000` });
const tick = () => new Promise((r) => setImmediate(r));
const never = new AbortController().signal;

function setup() {
  let gate!: KeyGate;
  const book = new PartitionBook(
    () => undefined,
    () => gate.wake(),
  );
  gate = new KeyGate((r) => book.lockedIn(r));
  return { book, gate };
}

test("a write of a locked key waits for its release, then is on its way; a lock waits for it to settle", async () => {
  const { book, gate } = setup();
  assert.ok(book.reserve("t:1", ["a"]));
  let admitted = false;
  const w = gate.admit([one("a")], never).then((x) => {
    admitted = true;
    return x;
  });
  await tick();
  assert.equal(admitted, false, "a is locked");
  const other = await gate.admit([one("b")], never);
  assert.equal(gate.writesOnTheirWay, 1, "b was free");
  book.release("t:1");
  const way = await w;
  assert.equal(gate.writesOnTheirWay, 2);
  assert.ok(book.reserve("t:2", ["a"]));
  let drained = false;
  const d = gate.drained(["a"], never).then(() => (drained = true));
  await gate.drained(["c"], never); // nothing of c on its way
  await tick();
  assert.equal(drained, false, "the write of a is on its way");
  gate.settled(other);
  await tick();
  assert.equal(drained, false, "b settling is not a's");
  gate.settled(way);
  await d;
  assert.equal(gate.writesOnTheirWay, 0);
});

test("a read waits for a locked key in its range; waits end with their signal", async () => {
  const { book, gate } = setup();
  assert.ok(book.reserve("t:1", ["m"]));
  let read = false;
  const r = gate.free([{ from: "a", to: "z" }], never).then(() => (read = true));
  await gate.free([{ from: "n" }], never);
  await tick();
  assert.equal(read, false);
  const stop = new AbortController();
  const cut = gate.admit([one("m")], stop.signal);
  stop.abort(new Error("given up"));
  await assert.rejects(cut, /given up/);
  assert.equal(gate.writesOnTheirWay, 0, "a write given up is not on its way");
  book.release("t:1");
  await r;
  assert.ok(book.reserve("t:3", ["q"]));
  await assert.rejects(gate.free([one("q")], AbortSignal.abort(new Error("gone"))), /gone/, "an aborted signal ends a wait at once");
});
