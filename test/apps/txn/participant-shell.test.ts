/**
 * The participant shell (apps/txn/node/participant-shell.ts) over a book that is not the bank's: a
 * toy lock table (a part is a key; YES locks it, NO says who holds it), as a KV partition would be.
 * The shell restarts, votes with the book's reasons, answers a commit only once its owner says the
 * decision is durable, refuses prepares after its owner's storage failed, and, told nothing, learns
 * an outcome from the votes it watches.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { claimBlock } from "../../../apps/txn/core/blocks.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { type Book, type Decided, type Decision, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import { encodeRecord } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest } from "../../../apps/txn/core/steps.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { runTxn } from "../../../apps/txn/node/driver.ts";
import { ParticipantShell, type ParticipantShellOptions } from "../../../apps/txn/node/participant-shell.ts";
import { MemoryCluster, bytes, text } from "../../wor/memory-cluster.ts";
import { until } from "./txn-harness.ts";

const SPACE = "locks";

/** Keys locked by transactions: a part is one key. */
class LockBook implements Book<string> {
  readonly locks = new Map<string, string>();
  readonly decided = new Map<string, Outcome>();
  private readonly votes = new Map<string, { key: string; vote: true | string }>();

  isDecided(key: string): boolean {
    return this.decided.has(key);
  }
  decode(payload: Uint8Array): string | undefined {
    return payload.byteLength > 0 ? text(payload) : undefined;
  }
  prepare(txn: string, key: string | undefined): true | string | undefined {
    if (this.decided.has(txn)) return undefined;
    const known = this.votes.get(txn);
    if (known) return known.vote;
    const holder = key === undefined ? undefined : this.locks.get(key);
    const vote = key === undefined ? "no key" : holder !== undefined ? `${key} is locked by ${holder}` : true;
    if (vote === true && key !== undefined) this.locks.set(key, txn);
    this.votes.set(txn, { key: key ?? "", vote });
    return vote;
  }
  decide(txn: string, outcome: Outcome, part?: string): Decision<string> | undefined {
    if (this.decided.has(txn)) return undefined;
    const key = this.votes.get(txn)?.key ?? part!;
    if (this.locks.get(key) === txn) this.locks.delete(key);
    this.decided.set(txn, outcome);
    return outcome === "committed" ? { outcome, part: key } : { outcome };
  }
}

async function cluster(t: TestContext): Promise<MemoryCluster> {
  const c = await MemoryCluster.start();
  t.after(() => c.close());
  await TxnCoordinator.create(c.client().client, SPACE);
  return c;
}

/** A shell named `name` over a fresh LockBook, restarted: its book and the decisions it reported. */
async function shell(t: TestContext, c: MemoryCluster, name: string, o: Partial<ParticipantShellOptions> = {}) {
  const book = new LockBook();
  const decided: Decided<string>[] = [];
  const client = c.client().client;
  const meta = await client.openSpace(SPACE, "txn");
  const core = new ParticipantCore(ParticipantShell.config({ name, space: SPACE }, meta.segmentSize), book, (d) => decided.push(d));
  const s = new ParticipantShell(core, { client, ...o });
  await s.restart(0);
  t.after(() => s.close());
  return { s, book, decided };
}

/** Transaction `txn` of `participants`, each locking its key: the prepare requests. */
function requests(txn: number, participants: readonly string[], keys: readonly string[]): PrepareRequest[] {
  const record = encodeRecord({ participants, deadline: Date.now() + 60_000, coordinator: "dead" });
  return participants.map((_, index) => ({ space: SPACE, txn, index, record, payload: bytes(keys[index]!) }));
}

const freshTxn = async (c: MemoryCluster): Promise<number> => (await runTxn(claimBlock(SPACE, `dead-${Math.random()}`, 4), c.client().client)).first;

test("a shell over another book votes with its reasons, and answers a commit once its owner says the decision is durable", { timeout: 30_000 }, async (t) => {
  const c = await cluster(t);
  let release: () => void = () => {};
  let durable: Promise<void> = Promise.resolve();
  const { s, book, decided } = await shell(t, c, "k0", { durable: () => durable, watch: false, catchUpMs: 60_000 });
  // k9 is never asked: k0's YES leaves it in doubt.
  const [a] = requests(await freshTxn(c), ["k0", "k9"], ["x", "x"]);
  const yes = await s.prepare(a!);
  assert.ok(yes.ok && yes.value.kind === "yes", JSON.stringify(yes));
  assert.deepEqual(s.inDoubt, [a!.txn]);
  const [b] = requests(await freshTxn(c), ["k0", "k9"], ["x", "x"]);
  assert.deepEqual(await s.prepare(b!), { ok: true, value: { kind: "no", participant: "k0", reason: `x is locked by ${SPACE}:${a!.txn}` } });
  // The decision is taken at once; the answer waits for the owner's write.
  durable = new Promise<void>((r) => {
    release = r;
  });
  let answered = false;
  const told = s.commit(SPACE, a!.txn).then(() => {
    answered = true;
  });
  assert.deepEqual(decided.map((d) => [d.txn, d.outcome, d.part]), [[b!.txn, "aborted", undefined], [a!.txn, "committed", "x"]]);
  assert.deepEqual([s.inDoubt, book.locks.size], [[], 0]);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(answered, false, "commit answered before the decision was durable");
  release();
  await told;
  assert.equal(answered, true);
});

test("a shell whose owner reports a storage failure refuses every prepare", { timeout: 30_000 }, async (t) => {
  const c = await cluster(t);
  const { s } = await shell(t, c, "k0", { watch: false });
  s.fail(new Error("disk full"));
  s.fail(new Error("later"));
  const [a] = requests(await freshTxn(c), ["k0"], ["x"]);
  assert.deepEqual(await s.prepare(a!), { ok: false, failure: { code: "internal", message: "participant k0: disk full" } });
  assert.deepEqual(s.inDoubt, []);
});

test("shells told nothing learn the outcome from the votes they watch, then stop watching", { timeout: 30_000 }, async (t) => {
  const c = await cluster(t);
  const shells = [await shell(t, c, "k0", { catchUpMs: 60_000, watchAfterMs: 20 }), await shell(t, c, "k1", { catchUpMs: 60_000, watchAfterMs: 20 })];
  const rs = requests(await freshTxn(c), ["k0", "k1"], ["x", "y"]);
  const votes = await Promise.all(shells.map((p, i) => p.s.prepare(rs[i]!)));
  assert.deepEqual(votes.map((v) => v.ok && v.value.kind), ["yes", "yes"]);
  await until(() => shells.every((p) => p.s.inDoubt.length === 0), "both shells to decide", 5_000);
  assert.deepEqual(shells.map((p) => p.decided.map((d) => [d.outcome, d.part])), [[["committed", "x"]], [["committed", "y"]]]);
  await until(() => shells.every((p) => !p.s.watching), "both watches to close");
  for (const p of shells) p.s.close();
  assert.ok(shells.every((p) => !p.s.watching));
});
