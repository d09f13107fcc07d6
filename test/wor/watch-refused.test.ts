/**
 * A watch an acceptor refuses (wor/node/client.ts `watchRefused`): acceptors answer a watch frame
 * only to refuse it, with the frame's id. Trimmed above its start: the client watches again from the
 * trim mark, so what is chosen there is still pushed. An error: the feed fails once fewer than a
 * quorum of acceptors hold the watch, and not before. Before, a refusal went to the client core,
 * which ignores ids it did not issue: the feed never delivered and never failed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Watched, WatchFeed } from "../../wor/node/watch-feed.ts";
import { WorError } from "../../wor/node/client.ts";
import { MemoryCluster, bytes, text } from "./memory-cluster.ts";

/** How long a test waits for a push (in memory: a few ms) before calling the watch silent. */
const PUSH_WAIT_MS = 2_000;

/** The feed's next value, its failure, or "silent" when neither came in time. */
async function nextOf(feed: WatchFeed): Promise<Watched | Error | "silent"> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<"silent">((resolve) => {
    timer = setTimeout(() => resolve("silent"), PUSH_WAIT_MS);
  });
  try {
    return await Promise.race([feed.next().then((r) => (r.done ? new Error("the feed ended") : r.value), (e: unknown) => e as Error), silent]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a refused watch", { timeout: 30_000 }, () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start();
  });
  after(() => cluster.close());

  it("from below the trim mark: watches again from the mark, and pushes what is chosen there", async () => {
    const { client: w } = cluster.client();
    await w.createSpace("t");
    assert.equal(await w.trim("t", 64), 64);
    const cap = await w.captureRange("t", 64, 80);
    if (cap._tag !== "Captured") throw new Error(`not captured: ${cap._tag}`);
    assert.equal((await w.write(cap.capture, 70, bytes("before")))._tag, "Ok");
    await new Promise((r) => setTimeout(r, 20)); // let the commit reach the acceptors
    const feed = cluster.client().client.watch("t", 0);
    const first = await nextOf(feed);
    assert.ok(!(first instanceof Error) && first !== "silent", `the watch from 0 was ${first instanceof Error ? first.message : first}`);
    assert.deepEqual([first.index, text(first.value)], [70, "before"]);
    assert.equal((await w.write(cap.capture, 71, bytes("after")))._tag, "Ok");
    const second = await nextOf(feed);
    assert.ok(!(second instanceof Error) && second !== "silent", `the live push was ${second instanceof Error ? second.message : second}`);
    assert.deepEqual([second.index, text(second.value)], [71, "after"]);
    feed.return();
  });

  it("by every acceptor (an unknown space): the feed fails with why", async () => {
    const feed = cluster.client().client.watch("nowhere", 0);
    const r = await nextOf(feed);
    assert.ok(r instanceof WorError, `the watch of an unknown space was ${r instanceof Error ? r.message : JSON.stringify(r)}`);
    assert.equal(r.code, "unknownSpace");
    assert.match(r.message, /watch of nowhere from 0 was refused by 2 acceptors/);
  });

  it("by one acceptor of three (the space unknown there): the feed carries on with the other two", async () => {
    const { client: w, transport } = cluster.client();
    transport.disconnect(2);
    await w.createSpace("two"); // acceptor 2 never hears of it
    const feed = cluster.client().client.watch("two", 0);
    const cap = await w.captureRange("two", 0, 16);
    if (cap._tag !== "Captured") throw new Error(`not captured: ${cap._tag}`);
    assert.equal((await w.write(cap.capture, 3, bytes("pushed")))._tag, "Ok");
    const r = await nextOf(feed);
    assert.ok(!(r instanceof Error) && r !== "silent", `the watch was ${r instanceof Error ? r.message : r}`);
    assert.deepEqual([r.index, text(r.value)], [3, "pushed"]);
    feed.return();
  });
});
