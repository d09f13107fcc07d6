/**
 * Transactions across partitions on real KV nodes in process (apps/kv/node/kv-participant.ts,
 * kv-across.ts, key-gate.ts), over acceptors in memory: a key a transaction holds keeps linearizable
 * reads and writes waiting until the transaction is decided and its part applied (a stale read
 * does not wait); a node restarted while in doubt decides the transaction and applies its part
 * before it answers; the client's answers for a commit, a failed compare and a refused shape.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { participantName, splitTxn } from "../../../apps/kv/core/cross.ts";
import type { PartitionMap } from "../../../apps/kv/core/partitions.ts";
import { encodeTxn } from "../../../apps/kv/core/records.ts";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import type { KvNode } from "../../../apps/kv/node/kv-node.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import type { ParticipantLink } from "../../../apps/txn/node/driver.ts";
import type { ParticipantTimings } from "../../../apps/txn/node/participant-shell.ts";
import type { Participant } from "../../../apps/txn/node/participant.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { SPACE, kvFixture } from "./node-fixture.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Participants that learn outcomes only from the coordinator's word (or a restart). */
const QUIET: ParticipantTimings = { watch: false, catchUpMs: 600_000, graceMs: 600_000 };

/** A coordinator whose word reaches nobody: the prepares go to the nodes' participants in process. */
function silentCoordinator(admin: WorClient, nodes: () => readonly { readonly node: KvNode }[]) {
  const link: ParticipantLink = {
    prepare: (name, request) => nodes()[Number(name.slice(1))]!.node.participant!.prepare(request),
    notify: () => {},
  };
  return new TxnCoordinator({ client: admin, space: SPACE, participants: link, timeoutMs: 60_000 });
}

const putBoth = (map: PartitionMap, a: string, z: string) =>
  splitTxn(map, { compares: [], success: [{ op: "put", key: "a", value: bytes(a) }, { op: "put", key: "z", value: bytes(z) }], failure: [] }).map((p) => ({ participant: participantName(p.partition.id), payload: encodeTxn(p.part) }));

test("a key held by a transaction in doubt keeps linearizable reads and writes waiting until its part is applied; a stale read does not wait", { timeout: 60_000 }, async (t) => {
  const { admin, map, start, kv } = await kvFixture(t);
  const nodes = [await start(0, QUIET), await start(1, QUIET)];
  assert.ok((await kv.put("z", bytes("old"))).ok);
  const c = await silentCoordinator(admin, () => nodes).commit(putBoth(map, "new", "new"));
  assert.equal(c.outcome, "committed");
  assert.deepEqual(nodes[1]!.node.participant!.locks, { keys: 1, inDoubt: 1 });
  const status = (await kv.status()).map((r) => (r.ok ? [r.value.lockedKeys, r.value.inDoubt] : r.failure.message));
  assert.deepEqual(status, [[1, 1], [1, 1]], "each node's status says what it holds");

  const stale = await kv.get("z", { stale: true });
  assert.equal(stale.ok && text(stale.value.record?.value), "old", "a stale read answers at once, from before the transaction");
  let read: string | undefined;
  const reading = kv.get("z").then((r) => (read = r.ok ? text(r.value.record?.value) : `failed: ${r.failure.message}`));
  let wrote = false;
  const writing = kv.put("z", bytes("after")).then((r) => (wrote = r.ok));
  await sleep(400);
  assert.deepEqual([read, wrote], [undefined, false], "both wait for the transaction");

  await nodes[1]!.node.participant!.commit(SPACE, c.txn);
  await Promise.all([reading, writing]);
  // Never "old": the read began after the transaction committed. The write ran beside it, so it may come first.
  assert.ok(read === "new" || read === "after", `the read saw ${read}`);
  assert.ok(wrote);
  const z = await kv.get("z");
  assert.equal(z.ok && text(z.value.record?.value), "after", "the waiting write came after the transaction's part");
  assert.deepEqual(nodes[1]!.node.participant!.locks, { keys: 0, inDoubt: 0 });
  await nodes[0]!.node.participant!.commit(SPACE, c.txn);
  const a = await kv.get("a");
  assert.equal(a.ok && text(a.value.record?.value), "new");
});

test("a node restarted in doubt decides the transaction and applies its part before it answers", { timeout: 60_000 }, async (t) => {
  const { admin, map, start, kv } = await kvFixture(t);
  const nodes = [await start(0, QUIET), await start(1, QUIET)];
  const c = await silentCoordinator(admin, () => nodes).commit(putBoth(map, "1", "1"));
  assert.equal(c.outcome, "committed");
  await nodes[1]!.close(); // in doubt, its part not applied: nothing of it is durable but its vote
  nodes[1] = await start(1, {});
  assert.deepEqual(nodes[1]!.node.participant!.locks, { keys: 0, inDoubt: 0 }, "the restart scan decided it");
  const z = await kv.get("z", { stale: true });
  assert.equal(z.ok && text(z.value.record?.value), "1", "its part was applied before the node answered");
  // Restarted again: the commit is not applied twice (the shard knows it, the log's key table too).
  await nodes[1]!.close();
  nodes[1] = await start(1, {});
  const again = await kv.get("z");
  assert.ok(again.ok);
  assert.deepEqual([text(again.value.record?.value), again.value.record?.version], ["1", 1]);
});

test("a write sent while a node restarts in doubt waits for its restart scan: it comes after the transaction's part", { timeout: 60_000 }, async (t) => {
  const { admin, map, start } = await kvFixture(t);
  const nodes = [await start(0, QUIET), await start(1, QUIET)];
  const c = await silentCoordinator(admin, () => nodes).commit(putBoth(map, "1", "1"));
  assert.equal(c.outcome, "committed");
  await nodes[1]!.close(); // in doubt: its part not applied, its lock gone with it
  // Writes of z sent as fast as connections are refused while the node starts, each by a new client
  // (a client's channel backs off after a refusal): the first to get in arrives as the node listens,
  // before its player has started and its restart scan has run.
  let restarted = false;
  const answers: { readonly previous: string | undefined }[] = [];
  const spam = (async () => {
    while (!restarted || answers.length === 0) {
      const kv = new KvClient({ map, attemptTimeoutMs: 5_000, retryForMs: 0 });
      const r = await kv.put("z", bytes("during"));
      kv.close();
      if (r.ok) answers.push({ previous: text(r.value.prev?.value) });
    }
  })();
  nodes[1] = await start(1, {});
  restarted = true;
  await spam;
  assert.ok(answers.length > 0, "some write got in");
  assert.deepEqual(
    answers.filter((a) => a.previous !== "1" && a.previous !== "during"),
    [],
    "every write came after the transaction's part (it saw the transaction's value, or a write like it after it)",
  );
});

test("the client: a commit, a failed compare (nothing written), and shapes refused before anything is sent", { timeout: 60_000 }, async (t) => {
  const { start, kv } = await kvFixture(t);
  await start(0, {});
  await start(1, {});
  const both = (compares: Parameters<KvClient["txn"]>[0]["compares"]) => kv.txn({ compares, success: [{ op: "put", key: "b", value: bytes("x") }, { op: "delete", key: "y" }], failure: [] });
  assert.ok((await kv.put("y", bytes("there"))).ok);
  const missed = await both([{ key: "y", target: "value", result: "equal", value: bytes("elsewhere") }]);
  assert.ok(missed.ok && !missed.value.result.succeeded && missed.value.across, JSON.stringify(missed));
  assert.equal((await kv.get("b")).ok && undefined, undefined);
  const y = await kv.get("y");
  assert.equal(y.ok && text(y.value.record?.value), "there", "nothing of it was written");
  const done = await both([{ key: "y", target: "value", result: "equal", value: bytes("there") }]);
  assert.ok(done.ok && done.value.result.succeeded, JSON.stringify(done));
  assert.deepEqual(done.value.across?.partitions, [0, 1]);
  const [b, gone] = [await kv.get("b"), await kv.get("y")];
  assert.deepEqual([b.ok && text(b.value.record?.value), gone.ok && gone.value.record], ["x", undefined]);
  const withElse = await kv.txn({ compares: [], success: [{ op: "put", key: "b", value: bytes("1") }, { op: "put", key: "y", value: bytes("1") }], failure: [{ op: "range", key: "b" }] });
  assert.ok(!withElse.ok && withElse.failure.code === "invalid" && /no failure branch/.test(withElse.failure.message));
});

test("nodes of one process call each other's participant directly, and a closed one leaves the map", { timeout: 60_000 }, async (t) => {
  const { start, kv } = await kvFixture(t);
  const colocated = new Map<string, Participant>();
  await start(0, {}, { colocated });
  const one = await start(1, {}, { colocated });
  assert.deepEqual([...colocated.keys()].sort(), [participantName(0), participantName(1)]);
  // Partition 1's participant as node 0 reaches it, counted.
  const served = colocated.get(participantName(1))!;
  const calls: string[] = [];
  colocated.set(served.name, {
    name: served.name,
    prepare: (request) => {
      calls.push("prepare");
      return served.prepare(request);
    },
    commit: (space, txn) => {
      calls.push("commit");
      return served.commit(space, txn);
    },
    abort: (space, txn) => served.abort(space, txn),
  });
  const done = await kv.txn({ compares: [], success: [{ op: "put", key: "b", value: bytes("x") }, { op: "put", key: "y", value: bytes("x") }], failure: [] });
  assert.ok(done.ok && done.value.result.succeeded && done.value.across, JSON.stringify(done));
  assert.equal(calls[0], "prepare", "node 0 asked partition 1's participant in process, not through its port");
  const y = await kv.get("y");
  assert.equal(y.ok && text(y.value.record?.value), "x");
  colocated.set(served.name, served);
  await one.close();
  assert.deepEqual([...colocated.keys()], [participantName(0)]);
});
