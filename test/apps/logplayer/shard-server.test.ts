/**
 * The shard server (apps/logplayer/node/shard-server.ts) on its classic-level store, over gRPC in
 * process: a stream opens with a hello; an ack leaves only once the write it reports is synced; rows,
 * applied position, epoch and binding survive a restart; a batch without an accepted hello ends the
 * stream; reads serve the durable rows in pages.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ShardReply } from "../../../apps/logplayer/core/items.ts";
import { type DeliveryStream, ShardLinks } from "../../../apps/logplayer/node/shard-link.ts";
import { startShardServer } from "../../../apps/logplayer/node/shard-server.ts";
import { ShardStore } from "../../../apps/logplayer/node/shard-store.ts";

const utf8 = new TextEncoder();
const binding = { group: "g", shard: 0, shards: 1 };

/** A stream whose replies and end the test awaits one at a time. */
function stream(links: ShardLinks) {
  const replies: ShardReply[] = [];
  let down: string | undefined;
  let wake = () => {};
  const s: DeliveryStream = links.open(0, {
    reply: (r) => {
      replies.push(r);
      wake();
    },
    down: (why) => {
      down = why;
      wake();
    },
  });
  const next = (ms = 5_000) =>
    new Promise<ShardReply>((resolve, reject) => {
      const check = () => {
        if (replies.length > 0) return resolve(replies.shift()!);
        if (down !== undefined) return reject(new Error(`stream down: ${down}`));
        wake = check;
      };
      setTimeout(() => reject(new Error("no reply in time")), ms).unref();
      check();
    });
  const ended = () =>
    new Promise<string>((resolve) => {
      const check = () => (down !== undefined ? resolve(down) : (wake = check));
      check();
    });
  return { s, next, ended, pending: () => replies.length };
}

test("a shard acks only what is synced, keeps it across a restart, and wants a hello first", { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "worm-shard-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let store = await ShardStore.open(dir);
  // Writes wait for the test's gate: what the shard replies while one waits is not durable.
  const write = store.write.bind(store);
  let gate: Promise<void> = Promise.resolve();
  store.write = async (w) => {
    await gate;
    return write(w);
  };
  let server = await startShardServer({ store });
  const links = new ShardLinks([`127.0.0.1:${server.port}`]);
  t.after(async () => {
    links.close();
    await server.close();
    await store.close().catch(() => {});
  });

  const a = stream(links);
  a.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await a.next(), { kind: "state", applied: -1, epoch: 1 });

  let open!: () => void;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 0, previous: -1, data: utf8.encode("a") }, { position: 2, previous: 0, data: utf8.encode("b") }, { position: 5, previous: 2 }] });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.pending(), 0, "no ack before the write is synced");
  open();
  assert.deepEqual(await a.next(), { kind: "ack", applied: 5 });

  // A duplicate is re-acked; a gap is a rewind.
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 2, previous: 0, data: utf8.encode("b") }] });
  assert.deepEqual(await a.next(), { kind: "ack", applied: 5 });
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 9, previous: 7, data: utf8.encode("x") }] });
  assert.deepEqual(await a.next(), { kind: "rewind", applied: 5 });

  // A batch on a stream without a hello ends the stream; so does one after a refused hello.
  const b = stream(links);
  b.s.send({ kind: "batch", epoch: 1, items: [{ position: 6, previous: 5, data: utf8.encode("z") }] });
  assert.match(await b.ended(), /opens with a hello the shard accepts/);
  const c = stream(links);
  c.s.send({ kind: "hello", epoch: 2, player: "p2", binding: { ...binding, group: "other" } });
  assert.deepEqual(await c.next(), { kind: "refused", message: "this shard is shard 0 of 1 of player group g, not shard 0 of 1 of player group other" });
  c.s.send({ kind: "batch", epoch: 2, items: [{ position: 6, previous: 5, data: utf8.encode("z") }] });
  assert.match(await c.ended(), /opens with a hello the shard accepts/);

  await server.close();
  await store.close();
  store = await ShardStore.open(dir);
  server = await startShardServer({ store });
  const again = new ShardLinks([`127.0.0.1:${server.port}`]);
  t.after(() => again.close());
  const st = await again.status(0, 5_000);
  assert.deepEqual([st.applied, st.epoch, st.binding], [5, 1, binding]);
  const page = await again.read(0, 0, 1, 5_000);
  assert.deepEqual(page.rows.map((r) => [r.position, new TextDecoder().decode(r.data)]), [[0, "a"]]);
  const rest = await again.read(0, 1, 10, 5_000);
  assert.deepEqual(rest.rows.map((r) => r.position), [2]);
  assert.equal(rest.applied, 5);
  // A newer player's hello raises the epoch durably; the older one is fenced.
  const d = stream(again);
  d.s.send({ kind: "hello", epoch: 3, player: "p3", binding });
  assert.deepEqual(await d.next(), { kind: "state", applied: 5, epoch: 3 });
  const e = stream(again);
  e.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await e.next(), { kind: "fenced", epoch: 3 });
  assert.equal((await again.status(0, 5_000)).epoch, 3);
});

test("a failed write acks nothing, ends every stream, stops the shard; a restart resumes from what is durable", { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "worm-shard-fail-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let store = await ShardStore.open(dir);
  const write = store.write.bind(store);
  let failing = false;
  store.write = (w) => (failing ? Promise.reject(new Error("no space left on device")) : write(w));
  const failures: Error[] = [];
  let server = await startShardServer({ store, onFailure: (e) => failures.push(e) });
  let links = new ShardLinks([`127.0.0.1:${server.port}`]);
  t.after(async () => {
    links.close();
    await server.close();
    await store.close().catch(() => {});
  });

  const a = stream(links);
  a.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await a.next(), { kind: "state", applied: -1, epoch: 1 });
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 0, previous: -1, data: utf8.encode("a") }, { position: 1, previous: 0, data: utf8.encode("b") }] });
  assert.deepEqual(await a.next(), { kind: "ack", applied: 1 });

  failing = true;
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 2, previous: 1, data: utf8.encode("c") }] });
  assert.match(await a.ended(), /^the shard's storage failed: no space left on device$/);
  assert.equal(a.pending(), 0, "the batch whose write failed is not acked");
  assert.deepEqual(failures.map((e) => e.message), ["no space left on device"], "the owner is told, once");
  // It serves no delivery after the failure: a new stream's hello ends it, unanswered.
  const b = stream(links);
  b.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.match(await b.ended(), /the shard's storage failed/);
  assert.equal(b.pending(), 0);

  await server.close();
  await store.close();
  links.close();
  store = await ShardStore.open(dir);
  server = await startShardServer({ store });
  links = new ShardLinks([`127.0.0.1:${server.port}`]);
  const c = stream(links);
  c.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await c.next(), { kind: "state", applied: 1, epoch: 1 }, "the restart resumes from the durable applied position");
  assert.deepEqual((await links.read(0, 0, 10, 5_000)).rows.map((r) => r.position), [0, 1]);
  c.s.send({ kind: "batch", epoch: 1, items: [{ position: 2, previous: 1, data: utf8.encode("c") }] });
  assert.deepEqual(await c.next(), { kind: "ack", applied: 2 }, "the failed batch, sent again, is applied");
});

test("closing a shard server waits for the write under way and starts no other, so its store may be closed then (a standby handing its store over under load)", { timeout: 30_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "worm-shard-close-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let store = await ShardStore.open(dir);
  const write = store.write.bind(store);
  let gate: Promise<void> = Promise.resolve();
  let writes = 0;
  store.write = async (w) => {
    writes++;
    await gate;
    return write(w);
  };
  const failures: Error[] = [];
  const server = await startShardServer({ store, onFailure: (e) => failures.push(e) });
  const links = new ShardLinks([`127.0.0.1:${server.port}`]);
  t.after(() => links.close());
  const a = stream(links);
  a.s.send({ kind: "hello", epoch: 1, player: "p1", binding });
  assert.deepEqual(await a.next(), { kind: "state", applied: -1, epoch: 1 });

  let open!: () => void;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  t.after(async () => {
    open();
    await server.close();
    await store.close().catch(() => {});
  });
  const before = writes; // the hello's (its epoch made durable)
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 0, previous: -1, data: utf8.encode("a") }] });
  await new Promise((r) => setTimeout(r, 200));
  // Staged while the first write waits: the next write's, which closing must not start.
  a.s.send({ kind: "batch", epoch: 1, items: [{ position: 1, previous: 0, data: utf8.encode("b") }] });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(writes, before + 1, "one write under way");
  let closed = false;
  const closing = server.close().then(() => {
    closed = true;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(closed, false, "it waits for the write under way");
  open();
  await closing;
  await store.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(writes, before + 1, "no write after closing began");
  assert.deepEqual(failures, []);
  store = await ShardStore.open(dir);
  assert.equal(store.state.applied, 0, "the write under way is durable; what was only staged is the log's to replay");
  await store.close();
});
