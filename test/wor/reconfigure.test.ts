/**
 * Replacing an acceptor online (docs/ARCHITECTURE.md §3.5), over real gRPC and classic-level: a
 * wiped acceptor is replaced under a new id; the replacement holds the join of the survivors'
 * state; a client of the old epoch follows the new configuration from a refusal; the cluster then
 * survives the loss of another original acceptor; the fence refuses sessions of the old epoch.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ballotLt } from "../../paxos/ballot.ts";
import type { Configuration } from "../../wor/core/configuration.ts";
import { CONFIGURATION_SPACE, decodeConfiguration, encodeConfiguration, replaced } from "../../wor/core/configuration.ts";
import { AdminClient } from "../../wor/node/admin-client.ts";
import { WorError } from "../../wor/node/client.ts";
import { CONFIGURATION_TRAILER, EPOCH_METADATA } from "../../wor/node/credentials.ts";
import { InstallerSession } from "../../wor/node/installer-session.ts";
import { recoverLostMajority } from "../../wor/node/forced-recovery.ts";
import { newestConfiguration, reconfigure } from "../../wor/node/reconfigure.ts";
import { fence } from "../../wor/node/reconfigure-steps.ts";
import { makeAcceptorClient } from "../../wor/wire/service.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";
import { plantBugForTestAsync } from "../../verify/runtime/planted.ts";
import { CLUSTER, acceptor, client, closeAll, value } from "./reconfigure-harness.ts";

after(closeAll);

describe("replacing an acceptor", { timeout: 60_000 }, () => {
  test("a wiped acceptor is replaced online; the replacement holds the join; the old epoch is fenced; then another", async (t) => {
    const a = await Promise.all([1, 2, 3].map((id) => acceptor(id)));
    const epoch0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x, k) => ({ id: k + 1, address: x.address })) };
    const old = client(epoch0);
    await old.createSpace("r", { kind: "registers", segmentSize: 64 });
    for (let i = 0; i < 150; i++) {
      const c = await old.capture("r", i);
      assert.equal(c._tag, "Captured");
      if (c._tag === "Captured") assert.equal((await old.write(c.capture, i, value(i)))._tag, "Ok");
    }
    const promised = await old.captureRange("r", 1_000, 2_000);
    assert.equal(promised._tag, "Captured");
    assert.equal(await old.trim("r", 10), 10);

    // Acceptor 3's disk is lost: it stops, and its replacement (id 4) starts empty, joining.
    await a[2]!.server.close();
    const b = await acceptor(4, { join: true });
    const lines: string[] = [];
    const done = await reconfigure({ start: epoch0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 3, by: { id: 4, address: b.address } }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.equal(done.configuration.epoch, 1);
    assert.deepEqual(done.configuration.acceptors.map((m) => m.id), [1, 2, 4]);
    assert.deepEqual(done.fenced, [1, 2, 4]);
    assert.ok(done.addresses >= 140, `copied ${done.addresses} addresses`);
    assert.ok(lines.some((l) => l.startsWith("activated")), lines.join("\n"));
    // Run again, it resumes and changes nothing.
    const again = await reconfigure({ start: epoch0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 3, by: { id: 4, address: b.address } }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.deepEqual(again.configuration, done.configuration);
    assert.ok(lines.some((l) => l.startsWith("resuming epoch 1")), lines.join("\n"));

    // The replacement holds every value, committed, above the trim mark, and the range promise.
    const admin = new AdminClient(b.address, { clusterId: CLUSTER });
    const seen = await admin.inspect({ space: "r", from: 0, to: 2_000 });
    const status = await admin.status();
    admin.close();
    assert.equal(seen.trimMark, 10);
    assert.deepEqual(seen.addresses.filter((x) => x.accepted).map((x) => x.index), Array.from({ length: 140 }, (_, k) => k + 10));
    assert.ok(seen.addresses.every((x) => !x.accepted || (x.committed && new TextDecoder().decode(x.accepted.value) === `value ${x.index}`)));
    assert.ok(seen.ranges.some((r) => r.from === 1_000 && r.to === 2_000 && !ballotLt(r.ballot, promised._tag === "Captured" ? promised.capture.ballot : r.ballot)));
    assert.equal(status.joining, false);
    assert.equal(status.configuration?.epoch, 1);

    // Install is for a joining replacement only: refused by it once active, and by the others.
    for (const at of [b.address, a[0]!.address]) {
      const installer = new InstallerSession(at, 1, { clusterId: CLUSTER });
      const [reply] = await installer.send([{ kind: "install", space: "r", addresses: [{ index: 7, promised: { round: 99, proposer: 1 }, committed: false }], ranges: [] }]);
      installer.close();
      assert.ok(!(reply instanceof Error) && reply!.kind === "error" && /joining replacement's installer only/.test(reply!.message), JSON.stringify(reply));
    }

    // The chain holds epoch 1 in register 0.
    const chained = await old.read(CONFIGURATION_SPACE, 0);
    assert.equal(chained._tag, "Written");
    if (chained._tag === "Written") assert.deepEqual(decodeConfiguration(chained.value), { ok: true, value: done.configuration });

    // Another original acceptor dies: the client that started at epoch 0 still reads and writes (2 and 4).
    await a[0]!.server.close();
    const r = await old.read("r", 42);
    assert.equal(r._tag, "Written");
    const c = await old.capture("r", 500);
    assert.equal(c._tag, "Captured");
    if (c._tag === "Captured") assert.equal((await old.write(c.capture, 500, value(500)))._tag, "Ok");

    // The fence: acceptor 2 refuses a session of epoch 0 and names epoch 1 in the trailer.
    const raw = new makeAcceptorClient(a[1]!.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    t.after(() => raw.close());
    const md = new grpc.Metadata();
    md.set(EPOCH_METADATA, "0");
    const refused = await new Promise<grpc.ServiceError>((resolve) => raw.session(md).on("error", resolve));
    assert.equal(refused.code, grpc.status.FAILED_PRECONDITION);
    assert.match(refused.details, /reconfigured/);
    const trailer = refused.metadata.get(CONFIGURATION_TRAILER)[0];
    assert.ok(trailer instanceof Uint8Array);
    assert.deepEqual(decodeConfiguration(trailer), { ok: true, value: done.configuration });

    // Acceptor 1 is gone for good too: replace it (epoch 2, copied from 2 and 4, itself a copy). The
    // old client follows again, and reads every value from 4 and 5, the two replacements, with 2 down.
    const c2 = await acceptor(5, { join: true });
    const second = await reconfigure({ start: epoch0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 1, by: { id: 5, address: c2.address } }, segmentSize: 64 });
    assert.deepEqual(second.configuration.acceptors.map((m) => m.id), [5, 2, 4]);
    assert.equal(second.configuration.epoch, 2);
    await a[1]!.server.close();
    const all = await old.readRange("r", 10, 150);
    assert.deepEqual([...all.values()].map((x) => (x._tag === "Written" ? new TextDecoder().decode(x.value) : x._tag)), Array.from({ length: 140 }, (_, k) => `value ${k + 10}`));
    const again500 = await old.read("r", 500);
    assert.ok(again500._tag === "Written" && new TextDecoder().decode(again500.value) === "value 500");
  });

  test("refusals before anything is written: an id that does not serve, a replacement id in use, a replacement not running", async () => {
    const a = await Promise.all([11, 12, 13].map((id) => acceptor(id)));
    const c0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x, k) => ({ id: 11 + k, address: x.address })) };
    const attempt = (retired: number, by: { id: number; address: string }) => reconfigure({ start: c0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired, by }, segmentSize: 64, deadlineMs: 1_000 });
    await assert.rejects(attempt(99, { id: 20, address: "127.0.0.1:1" }), (e: WorError) => e.failure.code === "invalid" && /acceptor 99 does not serve/.test(e.message));
    await assert.rejects(attempt(13, { id: 12, address: "127.0.0.1:1" }), (e: WorError) => /already serves/.test(e.message));
    // Nothing listens at the replacement's address; an acceptor that serves already is no replacement.
    await assert.rejects(attempt(13, { id: 20, address: "127.0.0.1:1" }), (e: WorError) => e.failure.code === "unavailable" && /worm node --id 20 --join/.test(e.message));
    const serving = await acceptor(21);
    await assert.rejects(attempt(13, { id: 21, address: serving.address }), (e: WorError) => /not a new acceptor waiting to join/.test(e.message));
    await assert.rejects(attempt(13, { id: 22, address: serving.address }), (e: WorError) => /is acceptor 21, not 22/.test(e.message));
    for (const x of a) assert.equal(x.node.members?.epoch, 0, "nothing was chosen or told");

    // Two acceptors down of three: the chain's register cannot be chosen; nothing is told.
    const joining = await acceptor(23, { join: true });
    await Promise.all([a[1]!.server.close(), a[2]!.server.close()]);
    await assert.rejects(attempt(13, { id: 23, address: joining.address }), (e: WorError) => e.failure.code === "unavailable" || e.failure.code === "timeout");
    assert.equal(a[0]!.node.members?.epoch, 0);
    assert.equal(joining.node.members?.epoch, 0);
  });
});

/**
 * A zombie configuration: acceptor 3 was down when it was replaced, and comes back with its old
 * state; acceptor 1 missed a write of epoch 1 (it was down) and comes back too; acceptors 2 and 4,
 * which hold that write, are now down. A client still at epoch 0 can reach only 1 and 3, a quorum of
 * epoch 0. The fence must keep it from choosing a second value where epoch 1 chose one: acceptor 1
 * refuses its session and names epoch 1, whose quorum it cannot reach.
 */
async function zombieQuorum(): Promise<{ readonly chosen: Uint8Array; readonly stale: string }> {
  const [a1, a2, a3] = await Promise.all([31, 32, 33].map((id) => acceptor(id)));
  const c0: Configuration = { epoch: 0, quorum: 2, acceptors: [a1!, a2!, a3!].map((x) => ({ id: x.id, address: x.address })) };
  await client(c0).createSpace("z", { kind: "registers", segmentSize: 64 });
  await a3!.server.close();
  const a4 = await acceptor(34, { join: true });
  const done = await reconfigure({ start: c0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 33, by: { id: 34, address: a4.address } }, segmentSize: 64 });
  await a1!.server.close();
  const fresh = client(done.configuration);
  const c = await fresh.capture("z", 7);
  assert.equal(c._tag, "Captured");
  const chosen = value(1);
  if (c._tag === "Captured") assert.equal((await fresh.write(c.capture, 7, chosen))._tag, "Ok");
  await Promise.all([acceptor(31, { again: a1 }), acceptor(33, { again: a3 })]);
  await Promise.all([a2!.server.close(), a4.server.close()]);
  const stale = client(c0, 1_500);
  try {
    const got = await stale.capture("z", 7);
    if (got._tag !== "Captured") return { chosen, stale: got._tag === "Written" ? `read ${new TextDecoder().decode(got.value)}` : got._tag };
    const w = await stale.write(got.capture, 7, value(2));
    return { chosen, stale: w._tag === "Ok" ? "wrote value 2" : w._tag };
  } catch (e) {
    return { chosen, stale: e instanceof WorError ? e.failure.code : String(e) };
  }
}

describe("a replacement cut short", { timeout: 60_000 }, () => {
  test("the replacement dies in the middle of the copy: it restarts joining, and the next run finishes the copy", async () => {
    const a = await Promise.all([51, 52, 53].map((id) => acceptor(id)));
    const c0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) };
    const w = client(c0);
    for (const space of ["m1", "m2", "m3"]) {
      await w.createSpace(space, { kind: "registers", segmentSize: 64 });
      const c = await w.captureRange(space, 0, 200);
      assert.equal(c._tag, "Captured");
      if (c._tag === "Captured") await w.writeMany(c.capture, Array.from({ length: 200 }, (_, i) => ({ index: i, value: value(i) })));
    }
    await a[2]!.server.close();
    let b = await acceptor(54, { join: true });
    // It dies once the copy has done its first space.
    const died = reconfigure({
      start: c0,
      security: { clusterId: CLUSTER },
      change: { kind: "replace", retired: 53, by: { id: 54, address: b.address } },
      segmentSize: 64,
      deadlineMs: 2_000,
      progress: (l) => {
        if (l.startsWith("copied $alloc/m1")) void b.server.close();
      },
    });
    await assert.rejects(died);
    b = await acceptor(54, { again: b });
    assert.equal(b.node.members?.joining, true, "it restarts joining: its identity says so");
    assert.equal(b.node.members?.epoch, 1);
    const lines: string[] = [];
    const done = await reconfigure({ start: c0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 53, by: { id: 54, address: b.address } }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.ok(lines[0]?.startsWith("resuming epoch 1"), lines.join("\n"));
    assert.equal(done.addresses >= 600, true, `copied ${done.addresses}`);
    // 51 stops: 52 and the replacement hold every value.
    await a[0]!.server.close();
    for (const space of ["m1", "m2", "m3"]) {
      const all = await w.readRange(space, 0, 200);
      assert.ok([...all.values()].every((r, i) => r._tag === "Written" && new TextDecoder().decode(r.value) === `value ${i}`), space);
    }
  });

  test("chosen in the chain but told to no one: the next run finds it there and finishes it; another replacement is refused", async () => {
    const a = await Promise.all([41, 42, 43].map((id) => acceptor(id)));
    const c0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) };
    const w = client(c0);
    await w.createSpace("k", { kind: "registers", segmentSize: 64 });
    const c = await w.capture("k", 3);
    if (c._tag === "Captured") await w.write(c.capture, 3, value(3));
    await a[2]!.server.close();
    const b = await acceptor(44, { join: true });
    // A run that died right after choosing epoch 1: the chain holds it, no acceptor was told.
    const chosen = (replaced(c0, 43, { id: 44, address: b.address }) as { value: Configuration }).value;
    await w.createSpace(CONFIGURATION_SPACE, { kind: "configurations" });
    const held = await w.capture(CONFIGURATION_SPACE, 0);
    assert.equal(held._tag, "Captured");
    if (held._tag === "Captured") assert.equal((await w.write(held.capture, 0, encodeConfiguration(chosen)))._tag, "Ok");
    assert.deepEqual((await newestConfiguration(c0, { security: { clusterId: CLUSTER }, segmentSize: 64 })).configuration, chosen);
    // Another replacement of 43 would be epoch 1 again: the chain refuses the fork.
    const other = await acceptor(45, { join: true });
    await assert.rejects(
      reconfigure({ start: c0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 43, by: { id: 45, address: other.address } }, segmentSize: 64 }),
      (e: WorError) => /acceptor 43 does not serve in epoch 1/.test(e.message),
    );
    const lines: string[] = [];
    const done = await reconfigure({ start: c0, security: { clusterId: CLUSTER }, change: { kind: "replace", retired: 43, by: { id: 44, address: b.address } }, segmentSize: 64, progress: (l) => lines.push(l) });
    assert.deepEqual(done.configuration, chosen);
    assert.ok(lines[0]?.startsWith("resuming epoch 1"), lines.join("\n"));
    assert.deepEqual(done.fenced, [41, 42, 44]);
    const admin = new AdminClient(b.address, { clusterId: CLUSTER });
    const seen = await admin.inspect({ space: "k", from: 0, to: 64 }).finally(() => admin.close());
    assert.deepEqual(seen.addresses.map((x) => [x.index, x.committed]), [[3, true]]);
  });
});

describe("forced recovery of a configuration that lost its majority", { timeout: 60_000 }, () => {
  test("two of three acceptors gone for good: replace refuses, recoverLostMajority rebuilds from the survivor", async () => {
    const a = await Promise.all([61, 62, 63].map((id) => acceptor(id)));
    const c0: Configuration = { epoch: 0, quorum: 2, acceptors: a.map((x) => ({ id: x.id, address: x.address })) };
    const w = client(c0, 1_500);
    await w.createSpace("f", { kind: "registers", segmentSize: 64 });
    const c = await w.captureRange("f", 0, 20);
    assert.equal(c._tag, "Captured");
    if (c._tag === "Captured") await w.writeMany(c.capture, Array.from({ length: 20 }, (_, i) => ({ index: i, value: value(i) })));
    await Promise.all([a[1]!.server.close(), a[2]!.server.close()]);
    const [b4, b5] = await Promise.all([acceptor(64, { join: true }), acceptor(65, { join: true })]);
    const security = { clusterId: CLUSTER };
    // The safe path needs two of the three: it refuses before telling anyone.
    await assert.rejects(reconfigure({ start: c0, security, change: { kind: "replace", retired: 62, by: { id: 64, address: b4.address } }, segmentSize: 64, deadlineMs: 1_000 }), WorError);
    // Forced: not while a quorum remains.
    await assert.rejects(
      recoverLostMajority({ start: c0, security, lost: [63], by: [{ id: 64, address: b4.address }], segmentSize: 64, deadlineMs: 1_000 }),
      (e: WorError) => /keeps 2 acceptors, a quorum/.test(e.message),
    );
    const lines: string[] = [];
    const done = await recoverLostMajority({ start: c0, security, lost: [62, 63], by: [{ id: 64, address: b4.address }, { id: 65, address: b5.address }], segmentSize: 64, progress: (l) => lines.push(l) });
    assert.deepEqual(done.configuration.acceptors.map((m) => m.id), [61, 64, 65]);
    assert.equal(done.configuration.epoch, 1);
    assert.ok(lines.some((l) => l.startsWith("forcing epoch 1")), lines.join("\n"));
    // The old client follows; what the survivor held reads back, and new writes are chosen.
    const all = await w.readRange("f", 0, 20);
    assert.ok([...all.values()].every((r, i) => r._tag === "Written" && new TextDecoder().decode(r.value) === `value ${i}`));
    const more = await w.capture("f", 30);
    assert.equal(more._tag, "Captured");
    if (more._tag === "Captured") assert.equal((await w.write(more.capture, 30, value(30)))._tag, "Ok");
    // The chain holds epoch 1, written under it.
    const chained = await w.read(CONFIGURATION_SPACE, 0);
    assert.ok(chained._tag === "Written" && decodeConfiguration(chained.value).ok);
  });
});

describe("the fence (zombie quorums of a retired configuration)", { timeout: 60_000 }, () => {
  test("a client of the old epoch cannot choose a second value through a retired acceptor", async () => {
    const r = await zombieQuorum();
    assert.notEqual(r.stale, "wrote value 2", "the stale client chose a second value at z[7]");
    assert.match(r.stale, /timeout|unavailable/);
  });

  test("an address that another acceptor took since is not fenced in the member's name", async () => {
    const a = await Promise.all([41, 42].map((id) => acceptor(id)));
    const next: Configuration = { epoch: 1, quorum: 2, acceptors: [{ id: 41, address: a[0]!.address }, { id: 43, address: a[1]!.address }] };
    // Member 43's address is served by acceptor 42 (as when a replacement took a freed port).
    const told = await fence([{ id: 41, address: a[0]!.address }, { id: 43, address: a[1]!.address }], next, { security: { clusterId: CLUSTER } });
    assert.deepEqual(told.fenced, [41]);
    assert.match(told.refused.get(43) ?? "", /the acceptor at 127\.0\.0\.1:\d+ is acceptor 42, not 43/);
  });

  test("planted admitStaleEpoch (an acceptor admits any epoch): the second value is chosen, and caught", async () => {
    const r = await plantBugForTestAsync("admitStaleEpoch", zombieQuorum);
    assert.equal(r.stale, "wrote value 2", "with the fence off, epoch 0's quorum {31, 33} chooses value 2 where epoch 1 chose value 1");
  });
});
