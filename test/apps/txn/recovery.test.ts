import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { AccountStore } from "../../../apps/txn/node/accounts.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { Bank, SPACE, transferParts, transferRequests, until } from "./txn-harness.ts";

test("a coordinator that dies once the votes are cast blocks nobody: the participants learn the commit from the votes they watch", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 25, Date.now() + 60_000);
  const votes = await Promise.all([bank.store("p0").prepare(r0!), bank.store("p1").prepare(r1!)]);
  assert.deepEqual(votes.map((v) => v.ok && v.value.kind), ["yes", "yes"]);
  // Nobody tells them; long before the deadline each learns the outcome by its watch.
  await until(() => bank.store("p0").inDoubt.length === 0 && bank.store("p1").inDoubt.length === 0, "both participants to decide");
  assert.equal(bank.store("p0").balances.get("a0"), 75);
  assert.equal(bank.store("p1").balances.get("a1"), 125);
  // The record never landed (its coordinator died): the status reads it from a YES vote.
  const s = await bank.coordinator().status(txn);
  assert.equal(s.outcome, "committed");
  assert.deepEqual(s.record.participants, ["p0", "p1"]);
});

test("participants watch the votes only for a silent coordinator: not for transactions they are told of; a silent one's outcome arrives by push, long before the catch-up read", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 0);
  // No catch-up read for a minute and a deadline a minute away: only the watch can decide in time.
  for (const name of ["p0", "p1"]) await bank.open(name, { catchUpMs: 60_000, watchAfterMs: 30 });
  const told = await bank.coordinator().commit(transferParts(0, 1, 10));
  assert.equal(told.outcome, "committed");
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual([bank.store("p0").watching, bank.store("p1").watching], [false, false]);
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 25, Date.now() + 60_000);
  const votes = await Promise.all([bank.store("p0").prepare(r0!), bank.store("p1").prepare(r1!)]);
  assert.deepEqual(votes.map((v) => v.ok && v.value.kind), ["yes", "yes"]);
  // Neither is told; 30 ms later each watches, and the watch delivers the votes chosen already.
  await until(() => bank.store("p0").inDoubt.length === 0 && bank.store("p1").inDoubt.length === 0, "both participants to decide", 5_000);
  assert.deepEqual([bank.store("p0").balances.get("a0"), bank.store("p1").balances.get("a1")], [65, 135]);
  await until(() => !bank.store("p0").watching && !bank.store("p1").watching, "both watches to close");
});

test("a participant never asked: past the deadline the other resolves the transaction (NO in the missing vote), and the late YES is refused", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 40, Date.now() + 300);
  const v0 = await bank.store("p0").prepare(r0!);
  assert.ok(v0.ok && v0.value.kind === "yes");
  assert.deepEqual(bank.store("p0").inDoubt, [txn]);
  await until(() => bank.store("p0").inDoubt.length === 0, "p0 to resolve after the deadline");
  assert.equal(bank.store("p0").balances.get("a0"), 100, "the debit was released, not applied");
  const late = await bank.store("p1").prepare(r1!);
  assert.ok(late.ok && late.value.kind === "no", "the late YES lost to the recoverer's NO");
  assert.deepEqual(bank.store("p1").inDoubt, []);
  assert.equal(bank.store("p1").balances.get("a1"), 100);
  const s = await bank.coordinator().status(txn);
  assert.equal(s.outcome, "aborted");
});

test("a participant restarted while in doubt finds its YES in the vote registers and applies the outcome", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 10, Date.now() + 60_000);
  assert.ok((await bank.store("p1").prepare(r1!)).ok);
  await bank.crash("p1");
  assert.ok((await bank.store("p0").prepare(r0!)).ok);
  await until(() => bank.store("p0").inDoubt.length === 0, "p0 to learn the commit");
  assert.equal(bank.store("p0").balances.get("a0"), 90);
  const p1 = await bank.open("p1");
  assert.deepEqual(p1.inDoubt, [], "the restart scan decided it");
  assert.equal(p1.balances.get("a1"), 110);
  // Opened again: the commit is not applied twice.
  await bank.crash("p1");
  assert.equal((await bank.open("p1")).balances.get("a1"), 110);
});

test("a participant restarted before the outcome fences the block: a NO naming nobody fills every empty vote, so the missing vote is refused and the transaction aborts", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 3);
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 10, Date.now() + 60_000);
  assert.ok((await bank.store("p0").prepare(r0!)).ok);
  await bank.crash("p0");
  const p0 = await bank.open("p0");
  // The fence wrote NO into p1's empty vote: the restart found its YES and the NO, and decided the abort.
  assert.deepEqual(p0.inDoubt, []);
  assert.equal(p0.balances.get("a0"), 100);
  const late = await bank.store("p1").prepare(r1!);
  assert.ok(late.ok && late.value.kind === "no" && late.value.participant === undefined);
  const s = await bank.coordinator().status(txn);
  assert.deepEqual([s.outcome, s.votes.map((v) => (v.state === "chosen" ? v.vote.kind : v.state))], ["aborted", ["yes", "no"]]);
  // In a block claimed before its restart p0 votes NO, naming nobody (the coordinator leaves the block).
  const [old0] = transferRequests(txn + 1, 0, 2, 1, Date.now() + 60_000);
  const v = await p0.prepare(old0!);
  assert.ok(v.ok && v.value.kind === "no" && v.value.participant === undefined);
  // A coordinator's next transaction goes to a fresh block and commits.
  assert.equal((await bank.coordinator().commit(transferParts(0, 2, 5))).outcome, "committed");
});

test("two coordinators of one transaction agree: a second resolving it forces nothing new", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const c = bank.coordinator();
  const r = await c.commit(transferParts(0, 1, 5));
  assert.equal(r.outcome, "committed");
  const again = await bank.coordinator().resolve(r.txn, true);
  assert.equal(again.outcome, "committed");
  assert.equal(again.recovered, false);
  // Two recoverers race on a transaction in doubt: both end with the same outcome.
  const txn = await bank.freshTxn();
  const [r0] = transferRequests(txn, 0, 1, 1, Date.now() + 60_000);
  assert.ok((await bank.store("p0").prepare(r0!)).ok);
  const [a, b] = await Promise.all([bank.coordinator().resolve(txn, true), bank.coordinator().resolve(txn, true)]);
  assert.equal(a.outcome, "aborted");
  assert.equal(b.outcome, "aborted");
  await until(() => bank.store("p0").inDoubt.length === 0, "p0 to learn the abort");
});

test("a YES of an earlier life accepted at one acceptor only, which the restart's capture missed, can never be chosen later: the fence's NO wins", { timeout: 60_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  // p0 runs on a client whose links the test cuts.
  await bank.crash("p0");
  const cut = bank.cluster.client();
  const p0 = await AccountStore.open({ name: "p0", dir: join(bank.dir, "p0"), client: cut.client, space: SPACE, watch: false });
  const txn = await bank.freshTxn();
  const [r0, r1] = transferRequests(txn, 0, 1, 25, Date.now() + 60_000);
  assert.ok((await bank.store("p1").prepare(r1!)).ok, "p1's YES is chosen");
  // p0 reaches acceptor 2 only: its owner write of YES lands there alone, and it dies.
  for (const a of [0, 1]) cut.transport.pause(a);
  const lost = await p0.prepare(r0!);
  assert.ok(!lost.ok, "the vote is unknown");
  await p0.close();
  // Its next life's fence gets a quorum without acceptor 2: the YES is not seen.
  const blind = bank.cluster.client();
  blind.transport.disconnect(2);
  const again = await AccountStore.open({ name: "p0", dir: join(bank.dir, "p0"), client: blind.client, space: SPACE });
  t.after(() => again.close());
  assert.deepEqual(again.inDoubt, []);
  // A recoverer whose capture reaches acceptor 2 must not adopt that YES: p0 never applied it.
  const other = bank.cluster.client();
  other.transport.disconnect(0);
  const r = await new TxnCoordinator({ client: other.client, space: SPACE }).resolve(txn, true);
  assert.equal(r.outcome, "aborted");
  assert.equal(again.balances.get("a0"), 100);
  await until(() => bank.store("p1").inDoubt.length === 0, "p1 to learn the abort");
  assert.equal(bank.store("p1").balances.get("a1"), 100);
});
