/**
 * Adding and removing acceptors online (docs/ARCHITECTURE.md §3.5), over real gRPC and
 * classic-level: a client of the old configuration follows each change from a refusal, opening a
 * link for a slot an addition made and closing the one a removal dropped, and its watch follows;
 * the new acceptor holds the copy and then counts toward quorums; a removed acceptor is retired, or
 * (down when removed) comes back a zombie that forms no quorum.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Configuration } from "../../wor/core/configuration.ts";
import { AdminClient } from "../../wor/node/admin-client.ts";
import type { WorError } from "../../wor/node/client.ts";
import { reconfigure } from "../../wor/node/reconfigure.ts";
import { CLUSTER, acceptor, client, closeAll, value } from "./reconfigure-harness.ts";

after(closeAll);

const text = new TextDecoder();
const security = { clusterId: CLUSTER };

async function writeOne(c: ReturnType<typeof client>, i: number): Promise<void> {
  const got = await c.capture("r", i);
  assert.equal(got._tag, "Captured", `capture ${i}`);
  if (got._tag === "Captured") assert.equal((await c.write(got.capture, i, value(i)))._tag, "Ok", `write ${i}`);
}

async function statusOf(address: string) {
  const admin = new AdminClient(address, { ...security, deadlineMs: 3_000 });
  try {
    return await admin.status();
  } finally {
    admin.close();
  }
}

describe("adding and removing acceptors", { timeout: 90_000 }, () => {
  test("add a fourth acceptor, then remove an original one, under a client and a watch of epoch 0", async () => {
    const a = await Promise.all([1, 2, 3].map((id) => acceptor(id)));
    const epoch0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) };
    const old = client(epoch0);
    await old.createSpace("r", { kind: "registers", segmentSize: 64 });
    const feed = old.watch("r", 0);
    for (let i = 0; i < 100; i++) await writeOne(old, i);

    // Add acceptor 4: epoch 1 has 4 acceptors under quorum 3.
    const four = await acceptor(4, { join: true });
    const lines: string[] = [];
    // Paced at 400 addresses/s: the copy of 100-odd addresses takes at least a quarter of a second.
    const plus = await reconfigure({ start: epoch0, security, change: { kind: "add", by: { id: 4, address: four.address } }, segmentSize: 64, copyRate: 400, progress: (l) => lines.push(l) });
    assert.ok(plus.ms >= (plus.addresses / 400) * 1000 - 50, `${plus.addresses} addresses copied in ${plus.ms} ms at 400/s`);
    assert.deepEqual(plus.configuration.acceptors.map((m) => m.id), [1, 2, 3, 4]);
    assert.equal(plus.configuration.quorum, 3);
    assert.deepEqual(plus.fenced, [1, 2, 3, 4]);
    assert.ok(plus.addresses >= 100, `copied ${plus.addresses} addresses`);
    assert.ok(lines.some((l) => l.startsWith("activated acceptor 4")), lines.join("\n"));

    // The old client follows (4 slots, quorum 3). With acceptor 1 down, a quorum needs acceptor 4.
    await writeOne(old, 100);
    await a[0]!.server.close();
    await writeOne(old, 101);
    const seen = await new AdminClient(four.address, security).inspect({ space: "r", from: 0, to: 200 });
    assert.ok(seen.addresses.some((x) => x.index === 101 && x.accepted && text.decode(x.accepted.value) === "value 101"), "acceptor 4 accepted the write made while 1 was down");
    assert.ok(seen.addresses.some((x) => x.index === 42 && x.accepted && text.decode(x.accepted.value) === "value 42"), "acceptor 4 holds the copy");

    // Remove acceptor 2 while it serves: epoch 2 is 1, 3 and 4 under quorum 2. Acceptor 1 is down
    // and is not told; 2 is told, and retires.
    const minus = await reconfigure({ start: plus.configuration, security, change: { kind: "remove", retired: 2 }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.deepEqual(minus.configuration.acceptors.map((m) => m.id), [1, 3, 4]);
    assert.equal(minus.configuration.quorum, 2);
    assert.deepEqual(minus.fenced, [2, 3, 4]);
    assert.ok(lines.some((l) => l === "acceptor 2 is retired: it serves no one again"), lines.join("\n"));
    const two = await statusOf(a[1]!.address);
    assert.equal(two.configuration?.epoch, 2);
    // Run again: it resumes, and changes nothing.
    const again = await reconfigure({ start: plus.configuration, security, change: { kind: "remove", retired: 2 }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.deepEqual(again.configuration, minus.configuration);
    assert.ok(lines.some((l) => l.startsWith("resuming epoch 2")), lines.join("\n"));

    // The old client follows again (3 slots, quorum 2): 3 and 4 make a quorum without 1 and 2.
    await a[1]!.server.close();
    await writeOne(old, 102);
    const r = await old.read("r", 7);
    assert.ok(r._tag === "Written" && text.decode(r.value) === "value 7");

    // The watch followed both changes: it delivers the writes made after them.
    const delivered = new Set<number>();
    const deadline = Date.now() + 10_000;
    let pending = feed.next();
    while (!(delivered.has(101) && delivered.has(102)) && Date.now() < deadline) {
      const next = await Promise.race([pending, new Promise<undefined>((res) => setTimeout(() => res(undefined), 500))]);
      if (!next || next.done) continue;
      delivered.add(next.value.index);
      pending = feed.next();
    }
    assert.ok(delivered.has(101) && delivered.has(102), `the watch delivered ${[...delivered].sort((x, y) => x - y).slice(-5).join(", ")}`);
    feed.return?.();
  });

  test("remove an acceptor that is down; it comes back a zombie of epoch 0 and forms no quorum; a client of epoch 0 follows", async () => {
    const a = await Promise.all([11, 12, 13].map((id) => acceptor(id)));
    const epoch0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) };
    const first = client(epoch0);
    await first.createSpace("r", { kind: "registers", segmentSize: 64 });
    for (let i = 0; i < 20; i++) await writeOne(first, i);
    await a[2]!.server.close();
    const minus = await reconfigure({ start: epoch0, security, change: { kind: "remove", retired: 13 }, segmentSize: 64, deadlineMs: 2_000 });
    assert.deepEqual(minus.configuration, { epoch: 1, quorum: 2, acceptors: epoch0.acceptors.slice(0, 2) });
    assert.deepEqual(minus.fenced, [11, 12]);

    // Acceptor 13 comes back on its directory, never told: a zombie of epoch 0.
    const zombie = await acceptor(13, { again: a[2]! });
    assert.equal(zombie.node.members?.epoch, 0);
    // A fresh client of epoch 0 is refused by 11 and 12 (naming epoch 1) and follows; 13 alone is no quorum.
    const late = client(epoch0);
    await writeOne(late, 20);
    const back = await late.read("r", 5);
    assert.ok(back._tag === "Written" && text.decode(back.value) === "value 5");
    const z = await new AdminClient(zombie.address, security).inspect({ space: "r", from: 20, to: 21 });
    assert.ok(!z.addresses.some((x) => x.index === 20 && x.accepted), "the zombie is in no quorum of epoch 1");

    // Removing it again is refused: it serves in no configuration.
    await assert.rejects(reconfigure({ start: minus.configuration, security, change: { kind: "remove", retired: 13 }, segmentSize: 64 }), (e: WorError) => /does not serve/.test(e.message));
    // Down to one acceptor, then none: the last one is refused.
    const one = await reconfigure({ start: minus.configuration, security, change: { kind: "remove", retired: 12 }, segmentSize: 64 });
    assert.deepEqual(one.configuration.acceptors.map((m) => m.id), [11]);
    await writeOne(late, 21);
    await assert.rejects(reconfigure({ start: one.configuration, security, change: { kind: "remove", retired: 11 }, segmentSize: 64 }), (e: WorError) => /last one/.test(e.message));
  });
});
