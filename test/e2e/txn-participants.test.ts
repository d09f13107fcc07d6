/**
 * WormTX with every party a real process but the coordinator (a library, here in the test): three
 * acceptors (`worm node`) and two participants (`worm txn participant`, account stores served over
 * gRPC). A transfer commits; then a coordinator dies after one participant voted YES, and that
 * participant is killed (SIGKILL) while in doubt. Restarted on its store, it fences the block (a NO
 * naming nobody into every empty vote), finds its YES and decides the transaction at once: aborted,
 * the debit released (a transfer of its whole balance then commits).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { encodeOps } from "../../apps/txn/core/bank.ts";
import { claimBlock } from "../../apps/txn/core/blocks.ts";
import { encodeRecord } from "../../apps/txn/core/record.ts";
import { TxnCoordinator } from "../../apps/txn/node/coordinator.ts";
import { runTxn } from "../../apps/txn/node/driver.ts";
import { remoteParticipants } from "../../apps/txn/node/remote-participants.ts";
import { Procs, addressesOf, client, runWorm, startCluster, tempDir } from "./harness.ts";

const transfer = (amount: number) => [
  { participant: "p0", payload: encodeOps([{ account: "a0", delta: -amount }]) },
  { participant: "p1", payload: encodeOps([{ account: "a1", delta: amount }]) },
];

test("participants as processes: a commit, and a participant killed in doubt decides the transaction at its restart", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-txnp-");
  const addresses = addressesOf(await startCluster(procs, dir, "txnp"));
  const peers = ["--peers", addresses.join(",")];
  assert.equal((await runWorm(["txn", "create", ...peers])).code, 0);
  const participant = async (i: number) => {
    const p = procs.start(["txn", "participant", "--name", `p${i}`, "--data-dir", join(dir, `p${i}`), "--account", `a${i}=100`, ...peers]);
    return { proc: p, ready: await p.waitForJson((l) => l.event === "listening", 60_000) };
  };
  const p0 = await participant(0);
  const p1 = await participant(1);
  const ports = new Map([
    ["p0", `127.0.0.1:${p0.ready.port}`],
    ["p1", `127.0.0.1:${p1.ready.port}`],
  ]);
  let link = remoteParticipants({ addresses: ports });
  t.after(() => link.close());
  const c = client(t, addresses);
  const coord = () => new TxnCoordinator({ client: c, space: "txn", participants: link, timeoutMs: 2_000 });
  assert.equal((await coord().commit(transfer(30))).outcome, "committed");

  // A coordinator that claimed a block, got p0's YES (a debit of 50), and died.
  const txn = (await runTxn(claimBlock("txn", "dead", 4), c)).first;
  const record = encodeRecord({ participants: ["p0", "p1"], deadline: Date.now() + 1_500, coordinator: "dead" });
  const yes = await link.prepare("p0", { space: "txn", txn, index: 0, record, payload: encodeOps([{ account: "a0", delta: -50 }]) });
  assert.ok(yes.ok && yes.value.kind === "yes", JSON.stringify(yes));
  await p0.proc.kill("SIGKILL");

  const again = await participant(0);
  assert.deepEqual(again.ready.inDoubt, [], "the restart decided it");
  ports.set("p0", `127.0.0.1:${again.ready.port}`);
  link.close();
  link = remoteParticipants({ addresses: ports });
  const s = await runWorm(["txn", "status", String(txn), "--json", ...peers]);
  assert.equal(s.code, 0, s.stderr);
  const status = JSON.parse(s.stdout) as { outcome: string; votes: { vote: string }[] };
  assert.deepEqual([status.outcome, status.votes.map((v) => v.vote)], ["aborted", ["YES", "NO"]]);
  // a0 holds 70: its lock is released and the aborted debit was not applied.
  assert.equal((await coord().commit(transfer(70))).outcome, "committed");
  assert.equal((await coord().commit(transfer(1))).outcome, "aborted", "a0 is empty now");
});
