/**
 * WormTX against real acceptor processes (issue 12): a transfer committed by the coordinator
 * library and a transaction left in doubt by a coordinator that died after one vote, seen and
 * decided with `worm txn status | list --in-doubt | resolve`, and `worm inspect` showing the
 * transaction space as transactions. The participants are account stores in this process, over gRPC.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { encodeOps } from "../../apps/txn/core/bank.ts";
import { claimBlock } from "../../apps/txn/core/blocks.ts";
import { encodeRecord } from "../../apps/txn/core/record.ts";
import { AccountStore } from "../../apps/txn/node/accounts.ts";
import { TxnCoordinator } from "../../apps/txn/node/coordinator.ts";
import { runTxn } from "../../apps/txn/node/driver.ts";
import { localParticipants } from "../../apps/txn/node/participant.ts";
import { Procs, addressesOf, client, runWorm, startCluster, tempDir } from "./harness.ts";

interface StatusJson {
  txn: number;
  outcome: string;
  votes: { participant: string; vote: string }[];
  inDoubt: string[];
  recovered?: boolean;
}

test("worm txn: status, list --in-doubt and resolve over a cluster of real acceptors", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-txn-");
  const addresses = addressesOf(await startCluster(procs, dir, "txn-e2e"));
  const worm = (...args: string[]) => runWorm([...args, "--peers", addresses.join(",")]);

  const created = await worm("txn", "create");
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, "created transaction space txn (txn, segment size 16)\n");
  assert.equal((await worm("space", "create", "regs")).code, 0);
  const wrongKind = await worm("txn", "status", "1", "--space", "regs");
  assert.equal(wrongKind.code, 2);
  assert.equal(wrongKind.stderr.trim(), "worm: regs is a register space, not a transaction space");
  const missing = await worm("txn", "status", "1", "--space", "nosuch");
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr.trim(), "worm: no txn space named nosuch; create it with 'worm txn create nosuch'");
  // The space as SPACE, as 'worm space create NAME' and 'worm log create NAME' take theirs, or as --space; not both.
  const named = await worm("txn", "create", "shop");
  assert.equal(named.stdout, "created transaction space shop (txn, segment size 16)\n", named.stderr);
  assert.equal((await worm("txn", "list", "shop")).stdout, "no transactions\n");
  const twice = await worm("txn", "create", "shop", "--space", "other");
  assert.equal(twice.code, 2);
  assert.equal(twice.stderr.trim(), "worm: give the transaction space once: SPACE shop or --space other");
  const inShop = await worm("txn", "status", "shop", "3");
  assert.equal(inShop.code, 2);
  assert.equal(inShop.stderr.trim(), "worm: no transaction 3 in shop");
  const spaceLast = await worm("txn", "resolve", "shop");
  assert.equal(spaceLast.code, 2);
  assert.equal(spaceLast.stderr.trim(), 'worm: the transaction id is a number, not "shop" (a space goes first: SPACE ID)');

  const c = client(t, addresses);
  const stores = await Promise.all(
    ["p0", "p1"].map((name, i) => AccountStore.open({ name, dir: join(dir, name), client: c, space: "txn", accounts: new Map([[`a${i}`, 100]]) })),
  );
  t.after(() => Promise.all(stores.map((s) => s.close())));
  const coord = new TxnCoordinator({ client: c, space: "txn", participants: localParticipants(stores) });
  const done = await coord.commit([
    { participant: "p0", payload: encodeOps([{ account: "a0", delta: -30 }]) },
    { participant: "p1", payload: encodeOps([{ account: "a1", delta: 30 }]) },
  ]);
  assert.equal(done.outcome, "committed");

  // A coordinator that claimed a block, asked p0 only, and died: p0 holds a YES, in doubt.
  const txn = (await runTxn(claimBlock("txn", "dead", 4), c)).first;
  const record = encodeRecord({ participants: ["p0", "p1"], deadline: Date.now() + 120_000, coordinator: "dead" });
  const yes = await stores[0]!.prepare({ space: "txn", txn, index: 0, record, payload: encodeOps([{ account: "a0", delta: -50 }]) });
  assert.ok(yes.ok && yes.value.kind === "yes");

  const committed = await worm("txn", "status", String(done.txn), "--json");
  assert.equal(committed.code, 0, committed.stderr);
  const cs = JSON.parse(committed.stdout) as StatusJson;
  assert.equal(cs.outcome, "committed");
  assert.deepEqual(cs.votes, [
    { participant: "p0", vote: "YES" },
    { participant: "p1", vote: "YES" },
  ]);

  const doubt = await worm("txn", "list", "--in-doubt", "--json");
  assert.equal(doubt.code, 0, doubt.stderr);
  const listed = (JSON.parse(doubt.stdout) as { transactions: StatusJson[] }).transactions;
  assert.deepEqual(
    listed.map((s) => [s.txn, s.outcome, s.inDoubt]),
    [[txn, "in doubt", ["p0"]]],
  );
  const all = await worm("txn", "list");
  assert.match(all.stdout, new RegExp(`^${done.txn} +committed +p0=YES p1=YES`, "m"));
  assert.match(all.stdout, new RegExp(`^${txn} +in doubt +p0=YES p1=unwritten +p0`, "m"));

  const inspect = await worm("inspect");
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /TRANSACTIONS/);
  assert.match(inspect.stdout, new RegExp(`^txn +2 +1 +0 +1 +${txn}: p0`, "m"));

  // Before the deadline resolve only reports; --force decides, and p0 learns it from its watch.
  const early = await worm("txn", "resolve", String(txn));
  assert.equal(early.code, 0, early.stderr);
  assert.match(early.stdout, /is in doubt until/);
  const forced = await worm("txn", "resolve", String(txn), "--force", "--json");
  assert.equal(forced.code, 0, forced.stderr);
  const fs = JSON.parse(forced.stdout) as StatusJson;
  assert.deepEqual([fs.outcome, fs.recovered, fs.votes[1]!.vote], ["aborted", true, "NO"]);
  const end = Date.now() + 20_000;
  while (stores[0]!.inDoubt.length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(stores[0]!.inDoubt, []);
  assert.equal(stores[0]!.balances.get("a0"), 70, "the aborted debit was released, the committed one kept");
  assert.equal((await worm("txn", "list", "--in-doubt")).stdout, "no transaction in doubt\n");

  const unknown = await worm("txn", "status", "9999");
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr.trim(), "worm: no transaction 9999 in txn");
});
