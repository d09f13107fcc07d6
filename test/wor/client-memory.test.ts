/**
 * The WOR client shell over the in-memory transport against real acceptor nodes (docs/ARCHITECTURE.md §3.1):
 * races, adoption, unknown outcomes settled by reading back, trim, alloc, watch.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WorError } from "../../wor/node/client.ts";
import { MemoryCluster, bytes, text } from "./memory-cluster.ts";

describe("WOR over the in-memory transport", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start();
    await cluster.client().client.createSpace("s");
  });
  after(() => cluster.close());

  it("concurrent capturers of one address choose exactly one value", async () => {
    const writers = Array.from({ length: 5 }, (_, i) => ({ i, c: cluster.client().client }));
    const outcomes = await Promise.all(
      writers.map(async ({ i, c }) => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const cap = await c.capture("s", 100);
          if (cap._tag === "Written") return text(cap.value);
          if (cap._tag !== "Captured") continue;
          const w = await c.write(cap.capture, 100, bytes(`w${i}`));
          if (w._tag === "Ok") return `w${i}`;
          if (w._tag === "AlreadyWritten") return text(w.value);
        }
        return "gave up";
      }),
    );
    const { client: reader } = cluster.client({ cacheEntriesMax: 0 });
    const r = await reader.read("s", 100, { recover: true });
    assert.equal(r._tag, "Written");
    if (r._tag !== "Written") return;
    const chosen = text(r.value);
    assert.match(chosen, /^w[0-4]$/);
    for (const o of outcomes) if (o !== "gave up") assert.equal(o, chosen, "every writer learned the one chosen value");
  });

  it("overlapping range captures: the later one preempts and adopts what the earlier wrote", async () => {
    const { client: a } = cluster.client();
    const { client: b } = cluster.client();
    const ca = await a.captureRange("s", 200, 216);
    assert.equal(ca._tag, "Captured");
    if (ca._tag !== "Captured") return;
    assert.deepEqual((await a.write(ca.capture, 205, bytes("A5")))._tag, "Ok");
    // A fresh client's first ballot may be below a's: a preempted capture teaches it a higher one.
    const captureUntil = async (from: number, to: number) => {
      for (;;) {
        const r = await b.captureRange("s", from, to);
        if (r._tag !== "Preempted") return r;
      }
    };
    const cb = await captureUntil(208, 224);
    const cb2 = await captureUntil(204, 212);
    assert.equal(cb._tag, "Captured");
    assert.equal(cb2._tag, "Captured");
    if (cb2._tag !== "Captured") return;
    assert.equal(text(cb2.written.get(205)!), "A5", "the value found is finished, never overwritten");
    const late = await a.write(ca.capture, 209, bytes("A9"));
    assert.equal(late._tag, "Preempted");
    if (late._tag === "Preempted") assert.equal(late.outcome, "unknown");
    const again = await b.write(cb2.capture, 205, bytes("B5"));
    assert.equal(again._tag, "AlreadyWritten");
  });

  it("a write whose outcome is unknown is settled by reading back", async () => {
    const { client: a, transport } = cluster.client();
    const cap = await a.capture("s", 300);
    if (cap._tag !== "Captured") throw new Error("not captured");
    transport.disconnect(1);
    transport.disconnect(2);
    // Two of three links went down before the write: it waits out its deadline (the memory links
    // make no new connection attempt that could fail it sooner), its outcome unknown.
    await assert.rejects(a.write(cap.capture, 300, bytes("maybe")), (e: unknown) => e instanceof WorError && e.code === "timeout");
    transport.reconnect(1);
    transport.reconnect(2);
    const { client: reader } = cluster.client({ cacheEntriesMax: 0 });
    const settled = await reader.read("s", 300, { recover: true });
    // Either outcome is legal; what matters is that it is final: the recovery fenced a's ballot.
    assert.ok(settled._tag === "Written" || settled._tag === "Unwritten", settled._tag);
    if (settled._tag === "Written") assert.equal(text(settled.value), "maybe");
    const retry = await a.write(cap.capture, 300, bytes("maybe"));
    if (settled._tag === "Unwritten") assert.equal(retry._tag, "Preempted", "the old capture is fenced");
    const again = await reader.read("s", 300);
    assert.equal(again._tag, settled._tag, "once settled, the answer never changes");
  });

  it("trim refuses every operation below the mark", async () => {
    await cluster.client().client.createSpace("t");
    const { client: a } = cluster.client({ cacheEntriesMax: 0 });
    const cap = await a.captureRange("t", 0, 128);
    if (cap._tag !== "Captured") throw new Error("not captured");
    await a.writeMany(cap.capture, [
      { index: 10, value: bytes("10") },
      { index: 70, value: bytes("70") },
    ]);
    assert.equal(await a.trim("t", 64), 64);
    assert.equal((await a.read("t", 10))._tag, "Trimmed");
    assert.equal((await a.capture("t", 11))._tag, "Trimmed");
    assert.equal((await a.write(cap.capture, 12, bytes("x")))._tag, "Trimmed");
    assert.equal((await a.unsafeWrite("t", 13, bytes("x")))._tag, "Trimmed");
    assert.equal((await a.check("t", 0))._tag, "Trimmed", "segment 0's allocation register went with it");
    assert.equal((await a.read("t", 70))._tag, "Written");
    assert.equal(await a.trim("t", 32), 64, "trim is monotone");
  });

  it("alloc is first-wins; the loser learns the winner's metadata", async () => {
    const [a, b] = [cluster.client().client, cluster.client().client];
    const [ra, rb] = await Promise.all([a.alloc("s", 7, bytes("owner=a")), b.alloc("s", 7, bytes("owner=b"))]);
    const tags = [ra._tag, rb._tag].sort();
    assert.deepEqual(tags, ["Allocated", "AlreadyAllocated"]);
    const meta = (r: typeof ra) => (r._tag === "Trimmed" ? new Uint8Array() : r.meta);
    const winner = ra._tag === "Allocated" ? meta(ra) : meta(rb);
    const loser = ra._tag === "AlreadyAllocated" ? meta(ra) : meta(rb);
    assert.equal(text(loser), text(winner));
    const chk = await cluster.client().client.check("s", 7);
    assert.equal(chk._tag, "Allocated");
    if (chk._tag === "Allocated") assert.equal(text(chk.meta), text(winner));
    assert.equal((await a.check("s", 8))._tag, "Unallocated");
  });

  it("watch pushes chosen values, existing ones first", async () => {
    const { client: w } = cluster.client();
    const cap = await w.captureRange("s", 400, 410);
    if (cap._tag !== "Captured") throw new Error("not captured");
    await w.write(cap.capture, 400, bytes("first"));
    await new Promise((r) => setTimeout(r, 20)); // let the commit reach the acceptors
    const feed = cluster.client().client.watch("s", 400);
    const seen: string[] = [];
    const got = (async () => {
      for await (const v of feed) {
        seen.push(`${v.index}=${text(v.value)}`);
        if (seen.length === 3) break;
      }
    })();
    await w.write(cap.capture, 401, bytes("second"));
    await w.write(cap.capture, 405, bytes("third"));
    await got;
    assert.deepEqual(seen.sort(), ["400=first", "401=second", "405=third"]);
  });

  it("an unknown space and an invalid name are clear failures", async () => {
    const { client: a } = cluster.client();
    await assert.rejects(a.read("nope", 0), (e: unknown) => e instanceof WorError && e.code === "unknownSpace");
    await assert.rejects(a.createSpace("bad name!"), (e: unknown) => e instanceof WorError && e.code === "invalid");
  });
});
