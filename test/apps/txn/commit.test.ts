import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { encodeOps } from "../../../apps/txn/core/bank.ts";
import { AccountStore } from "../../../apps/txn/node/accounts.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { localParticipants } from "../../../apps/txn/node/participant.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

/** An in-memory cluster and a temp directory, both gone after the test. */
async function clusterAndDir(t: TestContext): Promise<{ cluster: MemoryCluster; dir: string }> {
  const cluster = await MemoryCluster.start();
  const dir = await mkdtemp(join(tmpdir(), "txn-"));
  t.after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { cluster, dir };
}

test("a transfer between two participants commits; a transfer without funds aborts, and the coordinator learns who refused and why", { timeout: 30_000 }, async (t) => {
  const { cluster, dir } = await clusterAndDir(t);
  const admin = cluster.client().client;
  await TxnCoordinator.create(admin, "bank");
  const p = await Promise.all(
    ["p0", "p1"].map((name, i) =>
      AccountStore.open({ name, dir: join(dir, name), client: cluster.client().client, space: "bank", accounts: new Map([[`a${i}`, 100]]) }),
    ),
  );
  t.after(() => Promise.all(p.map((x) => x.close())));
  const coord = new TxnCoordinator({ client: cluster.client().client, space: "bank", participants: localParticipants(p) });
  const transfer = (amount: number) =>
    coord.commit([
      { participant: "p0", payload: encodeOps([{ account: "a0", delta: -amount }]) },
      { participant: "p1", payload: encodeOps([{ account: "a1", delta: amount }]) },
    ]);
  const r = await transfer(30);
  assert.equal(r.outcome, "committed");
  assert.deepEqual(r.refusals, []);
  await Promise.all(p.map((x) => x.flushed()));
  assert.equal(p[0]!.balances.get("a0"), 70);
  assert.equal(p[1]!.balances.get("a1"), 130);
  const s = await coord.status(r.txn);
  assert.equal(s.outcome, "committed");
  const no = await transfer(500);
  assert.equal(no.outcome, "aborted");
  assert.deepEqual(no.refusals, [{ participant: "p0", reason: "account a0 would go negative" }]);
  // The reason is in the vote register: anyone reading the votes sees it.
  const votes = (await coord.status(no.txn)).votes.map((v) => (v.state === "chosen" ? v.vote : undefined));
  assert.deepEqual(votes[0], { kind: "no", participant: "p0", reason: "account a0 would go negative" });
  // An account the participant does not hold.
  const unknown = await coord.commit([{ participant: "p1", payload: encodeOps([{ account: "a9", delta: 1 }]) }]);
  assert.deepEqual([unknown.outcome, unknown.refusals], ["aborted", [{ participant: "p1", reason: "unknown account a9" }]]);
  await Promise.all(p.map((x) => x.flushed()));
  assert.equal(p[0]!.balances.get("a0"), 70);
  assert.equal(p[1]!.balances.get("a1"), 130);
  assert.deepEqual(p.map((x) => x.inDoubt), [[], []]);
});

test("decisions taken together share one synced batch, and a reopened store holds every one", { timeout: 60_000 }, async (t) => {
  const { cluster, dir } = await clusterAndDir(t);
  await TxnCoordinator.create(cluster.client().client, "bank");
  const TRANSFERS = 40;
  const accounts = (i: number) => new Map(Array.from({ length: TRANSFERS }, (_, w) => [`a${i}-${w}`, 1_000] as const));
  // No watch and no word from the coordinator: the participants stay in doubt until told below.
  const open = (name: string, i: number) =>
    AccountStore.open({ name, dir: join(dir, name), client: cluster.client().client, space: "bank", accounts: accounts(i), watch: false, catchUpMs: 60_000 });
  const p = await Promise.all(["p0", "p1"].map(open));
  t.after(() => Promise.all(p.map((x) => x.close())));
  const local = localParticipants(p);
  const coord = new TxnCoordinator({ client: cluster.client().client, space: "bank", participants: { prepare: local.prepare, notify: () => {} } });
  const results = await Promise.all(
    Array.from({ length: TRANSFERS }, (_, w) =>
      coord.commit([
        { participant: "p0", payload: encodeOps([{ account: `a0-${w}`, delta: -(w + 1) }]) },
        { participant: "p1", payload: encodeOps([{ account: `a1-${w}`, delta: w + 1 }]) },
      ]),
    ),
  );
  assert.ok(results.every((r) => r.outcome === "committed"));
  assert.deepEqual(p.map((x) => x.inDoubt.length), [TRANSFERS, TRANSFERS]);
  for (const x of p) for (const r of results) void x.commit("bank", r.txn);
  await Promise.all(p.map((x) => x.flushed()));
  assert.deepEqual(p.map((x) => x.batchesWritten), [1, 1]);
  const before = p.map((x) => new Map(x.balances));
  assert.equal(before[1]!.get(`a1-${TRANSFERS - 1}`), 1_000 + TRANSFERS);
  await Promise.all(p.map((x) => x.close()));
  const again = await Promise.all(["p0", "p1"].map(open));
  t.after(() => Promise.all(again.map((x) => x.close())));
  assert.deepEqual(again.map((x) => new Map(x.balances)), before);
  assert.deepEqual(again.map((x) => x.inDoubt), [[], []]);
});
