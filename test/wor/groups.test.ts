/**
 * Acceptor groups and placement (docs/ARCHITECTURE.md §3.6), over real gRPC and classic-level: a
 * register space and a log placed on group g1 live on g1's acceptors (the main group holds only
 * their metadata), keep serving with the main group's majority down once placed, follow a
 * replacement in g1, and a watch of a placed space delivers; a client that cannot reach the main
 * group cannot place a space it has not opened, and says so. And a log striped over two groups.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../apps/log/node/sequencer-node.ts";
import type { Configuration } from "../../wor/core/configuration.ts";
import { AdminClient } from "../../wor/node/admin-client.ts";
import { WorClient, WorError } from "../../wor/node/client.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { reconfigure } from "../../wor/node/reconfigure.ts";
import { CLUSTER, type Running, acceptor, closeAll, value } from "./reconfigure-harness.ts";

after(closeAll);

const security = { clusterId: CLUSTER };
const text = new TextDecoder();
const configOf = (a: readonly Running[]): Configuration => ({ epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) });

function groupedClient(main: Configuration, g1: Configuration, roundTimeoutMs = 5_000): WorClient {
  return new WorClient({
    transport: grpcTransport({ addresses: main.acceptors.map((m) => m.address), ...security }),
    acceptors: main.acceptors.length,
    segmentSize: 64,
    roundTimeoutMs,
    groups: { g1: { transport: grpcTransport({ addresses: g1.acceptors.map((m) => m.address), epoch: g1.epoch, ...security }), acceptors: g1.acceptors.length, quorum: g1.quorum } },
  });
}

/** How many addresses of `space` below 1,000 hold state at the acceptor at `address` (0 for a space it does not hold). */
async function held(address: string, space: string): Promise<number> {
  const admin = new AdminClient(address, { ...security, deadlineMs: 3_000 });
  try {
    return (await admin.inspect({ space, from: 0, to: 1_000 })).addresses.length;
  } catch (e) {
    if (e instanceof WorError && e.code === "unknownSpace") return 0;
    throw e;
  } finally {
    admin.close();
  }
}

describe("acceptor groups", { timeout: 90_000 }, () => {
  test("a space and a log placed on g1 live there, outlive the main group's majority, and follow a replacement in g1", async () => {
    const main = await Promise.all([71, 72, 73].map((id) => acceptor(id)));
    const g1 = await Promise.all([81, 82, 83].map((id) => acceptor(id)));
    const client = groupedClient(configOf(main), configOf(g1));
    after(() => client.close());

    const created = await client.createSpace("r", { kind: "registers", segmentSize: 64, group: "g1" });
    assert.deepEqual(created, { _tag: "Created", meta: { kind: "registers", segmentSize: 64, group: "g1" } });
    await assert.rejects(client.createSpace("x", { group: "g9" }), (e: WorError) => /group g9 is not in this client's cluster file/.test(e.message));
    for (let i = 0; i < 20; i++) {
      const c = await client.capture("r", i);
      assert.equal(c._tag, "Captured");
      if (c._tag === "Captured") assert.equal((await client.write(c.capture, i, value(i)))._tag, "Ok");
    }
    // A log on g1, with an embedded sequencer: its segments are allocated and written on g1.
    await client.createSpace("l", { kind: "log", segmentSize: 64, group: "g1" });
    const sequencer = new SequencerNode({ client, owner: "groups" });
    after(() => sequencer.close());
    const log = new WormLog({ client, log: "l", tokens: sequencer });
    for (let i = 0; i < 100; i++) await log.append(value(i));

    // Where the data is: on g1; the main group holds the spaces' metadata and nothing of their data.
    for (const [space, atG1] of [["r", 20], ["l", 100], ["$alloc/l", 1], ["$meta/r", 1]] as const) {
      assert.ok((await held(g1[0]!.address, space)) >= atG1, `g1 holds ${space}`);
      assert.equal(await held(main[0]!.address, space), space.startsWith("$meta/") ? 1 : 0, `the main group holds ${space}`);
    }

    // A watch of the placed space delivers what is written after it starts.
    const feed = client.watch("r", 100);
    const c = await client.capture("r", 100);
    if (c._tag === "Captured") await client.write(c.capture, 100, value(100));
    const got = await feed.next();
    assert.ok(!got.done && got.value.index === 100 && text.decode(got.value.value) === "value 100");
    await feed.return();
    const unaware = new WorClient({ transport: grpcTransport({ addresses: configOf(main).acceptors.map((m) => m.address), ...security }), acceptors: 3, segmentSize: 64 });
    after(() => unaware.close());
    await assert.rejects(unaware.openSpace("r", "registers"), /r lives on group g1, and this client knows no groups/);
    await assert.rejects(unaware.createSpace("l", { kind: "log" }), /l lives on group g1/);
    // Nor does it read, write or watch one without opening it: the main group's empty copy would
    // read as unwritten.
    const newUnaware = () => {
      const c = new WorClient({ transport: grpcTransport({ addresses: configOf(main).acceptors.map((m) => m.address), ...security }), acceptors: 3, segmentSize: 64 });
      after(() => c.close());
      return c;
    };
    await assert.rejects(newUnaware().read("r", 7), /r lives on group g1, and this client knows no groups/);
    await assert.rejects(newUnaware().readRange("r", 0, 10), /r lives on group g1/);
    await assert.rejects(newUnaware().unsafeWrite("r", 99, value(99)), /r lives on group g1/);
    await assert.rejects(newUnaware().captureRange("l", 0, 64), /l lives on group g1/);
    await assert.rejects(newUnaware().watch("r", 0).next(), /r lives on group g1/);
    const plain = newUnaware();
    await plain.createSpace("plain");
    assert.equal((await plain.read("plain", 0))._tag, "Unwritten");

    // The main group's majority goes down: the placed space and log go on (placement is cached).
    await Promise.all([main[1]!.server.close(), main[2]!.server.close()]);
    for (let i = 100; i < 150; i++) await log.append(value(i));
    const r = await client.read("r", 7);
    assert.ok(r._tag === "Written" && text.decode(r.value) === "value 7");

    // Replace acceptor 83 of g1 (its own configuration chain), then lose 81: 82 and 84 carry on.
    await g1[2]!.server.close();
    const fresh = await acceptor(84, { join: true });
    const done = await reconfigure({ start: configOf(g1), security, change: { kind: "replace", retired: 83, by: { id: 84, address: fresh.address } }, segmentSize: 64 });
    assert.deepEqual(done.configuration.acceptors.map((m) => m.id), [81, 82, 84]);
    await g1[0]!.server.close();
    for (let i = 150; i < 200; i++) await log.append(value(i));
    const entries = await log.readRange(0, 200);
    assert.deepEqual(
      entries.map((e) => (e.kind === "entry" ? text.decode(e.entry.payload) : e.kind)),
      Array.from({ length: 200 }, (_, i) => `value ${i}`),
    );

    // A new client that cannot reach the main group cannot place a space it has not opened.
    const late = groupedClient(configOf(main), done.configuration, 1_000);
    after(() => late.close());
    await assert.rejects(late.read("r", 7), (e: WorError) => e.code === "unavailable" || e.code === "timeout");
    const watched = late.watch("l", 0);
    await assert.rejects(watched.next(), /not placed yet in this client/);
  });

  test("a log striped over the main group and g1: its segments alternate, and it reads, subscribes and trims across them", async () => {
    const main = await Promise.all([91, 92, 93].map((id) => acceptor(id)));
    const g1 = await Promise.all([94, 95, 96].map((id) => acceptor(id)));
    const client = groupedClient(configOf(main), configOf(g1));
    after(() => client.close());
    const created = await client.createSpace("sl", { kind: "log", segmentSize: 64, stripe: ["main", "g1"] });
    assert.deepEqual(created.meta, { kind: "log", segmentSize: 64, stripe: ["main", "g1"] });
    const sequencer = new SequencerNode({ client, owner: "striped" });
    after(() => sequencer.close());
    const log = new WormLog({ client, log: "sl", tokens: sequencer });
    const stop = new AbortController();
    const seen: number[] = [];
    const following = (async () => {
      for await (const e of log.subscribe(0, { signal: stop.signal })) {
        seen.push(e.slot);
        if (seen.length === 300) stop.abort();
      }
    })();
    const slots: number[] = [];
    for (let i = 0; i < 300; i++) slots.push((await log.append(value(i))).slot);
    assert.deepEqual(slots, Array.from({ length: 300 }, (_, i) => i), "one sequencer, no fills: slots 0..299");
    // Segment k (64 slots) is on main for even k, on g1 for odd k.
    for (const [at, group, other] of [[main[0]!, "main", g1[0]!], [g1[0]!, "g1", main[0]!]] as const) {
      const admin = new AdminClient(at.address, { ...security, deadlineMs: 3_000 });
      const held = (await admin.inspect({ space: "sl", from: 0, to: 320 })).addresses.filter((x) => x.accepted).map((x) => Math.floor(x.index / 64));
      admin.close();
      assert.deepEqual([...new Set(held)], group === "main" ? [0, 2, 4] : [1, 3], `${group} holds segments ${[...new Set(held)].join(", ")} (not ${other.id}'s)`);
    }
    const read = await log.readRange(0, 300);
    assert.deepEqual(
      read.map((e) => (e.kind === "entry" ? text.decode(e.entry.payload) : e.kind)),
      Array.from({ length: 300 }, (_, i) => `value ${i}`),
    );
    await following;
    assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => i), "the subscription delivered every slot in order, across both groups");
    assert.equal(await client.trim("sl", 128), 128);
    const after128 = await client.readRange("sl", 0, 130);
    assert.equal(after128.get(5)?._tag, "Trimmed");
    assert.equal(after128.get(70)?._tag, "Trimmed");
    assert.equal(after128.get(129)?._tag, "Written");
    // A capture across segments is one capture per segment, on its group; a write under it goes to each.
    const wide = await client.captureRange("sl", 500, 600);
    assert.ok(wide._tag === "Captured" && wide.capture.parts?.length === 3, JSON.stringify(wide));
    if (wide._tag === "Captured") {
      const w = await client.writeMany(wide.capture, [500, 520, 590].map((index) => ({ index, value: value(index) })));
      assert.deepEqual([...w.values()].map((r) => r._tag), ["Ok", "Ok", "Ok"]);
    }
    const back = await client.readRange("sl", 500, 600);
    assert.deepEqual([...back].filter(([, r]) => r._tag === "Written").map(([i]) => i), [500, 520, 590]);
  });
});
