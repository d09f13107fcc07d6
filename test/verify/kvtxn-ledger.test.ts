/**
 * The invariants of KV transactions across partitions (verify/sim/worlds/kvtxn-ledger.ts), fed by
 * hand: a commit entry only of a transaction its votes committed, holding its part's ops; a part
 * applied once (a later entry of it applied is caught), every committed part applied in the end;
 * balances that are numbers and not negative; the bank's total.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KvRecord, KvTxn } from "../../apps/kv/core/commands.ts";
import type { Outcome } from "../../apps/txn/core/outcome.ts";
import { CommitLedger, balanceOf, balanceProblem, balanceValue, totalProblem } from "../../verify/sim/worlds/kvtxn-ledger.ts";

const put = (key: string, n: number) => ({ op: "put" as const, key, value: balanceValue(n) });
const part = (...success: KvTxn["success"]): KvTxn => ({ compares: [], success, failure: [] });
const record = (value: string): KvRecord => ({ value: new TextEncoder().encode(value), createRevision: 1, modRevision: 1, version: 1 });

/** A ledger whose transactions' outcomes are what `outcomes` says. */
function ledger(outcomes: Record<number, Outcome>): CommitLedger {
  const l = new CommitLedger((txn) => outcomes[txn]);
  l.started(1, new Map([[0, part(put("a0/0", 90))], [1, part(put("a1/0", 110))]]));
  l.started(2, new Map([[0, part(put("a0/1", 50))]]));
  l.started(3, new Map([[0, { compares: [], success: [], failure: [] }]]));
  return l;
}

describe("CommitLedger", () => {
  it("takes a commit entry of a committed transaction holding its part's ops, and nothing else", () => {
    const l = ledger({ 1: "committed", 2: "aborted" });
    assert.deepEqual(l.landed(0, 1, { txn: 1, scanFrom: 0, ops: [put("a0/0", 90)] }), []);
    assert.match(l.landed(0, 2, { txn: 2, scanFrom: 0, ops: [put("a0/1", 50)] }).join(), /transaction 2, whose votes aborted it/);
    assert.match(l.landed(1, 2, { txn: 1, scanFrom: 0, ops: [put("a1/0", 111)] }).join(), /holds other ops than its part's/);
    assert.match(l.landed(2, 1, { txn: 1, scanFrom: 0, ops: [] }).join(), /which has no part there/);
    assert.match(ledger({}).landed(0, 1, { txn: 1, scanFrom: 0, ops: [put("a0/0", 90)] }).join(), /whose votes have not committed it/);
  });

  it("a part applied once: its first entry, never a later one, never one that did not land", () => {
    const l = ledger({ 1: "committed" });
    l.landed(0, 1, { txn: 1, scanFrom: 0, ops: [put("a0/0", 90)] });
    l.landed(0, 4, { txn: 1, scanFrom: 0, ops: [put("a0/0", 90)] });
    assert.deepEqual(l.applied(0, 1, 1), [], "the first entry");
    assert.deepEqual(l.applied(0, 1, 1), [], "the first entry again, by a shard restarted below it");
    assert.match(l.applied(0, 4, 1).join(), /position 4: applied transaction 1 again \(its commit entry at position 1 was applied before\)/);
    assert.match(l.applied(1, 3, 1).join(), /never landed/);
  });

  it("every committed part that writes is applied in the end; aborted ones and parts without ops are not asked for", () => {
    const l = ledger({ 1: "committed", 2: "aborted", 3: "committed" });
    assert.match(l.unapplied(0, 5).join(), /partition 0 never applied committed transaction 1 \(no commit entry landed\)/);
    l.landed(0, 6, { txn: 1, scanFrom: 0, ops: [put("a0/0", 90)] });
    assert.match(l.unapplied(0, 5).join(), /its entry at 6 is past 5/);
    assert.deepEqual(l.unapplied(0, 6), []);
  });

  it("balances are decimal numbers, never negative; totals are the opening total", () => {
    assert.equal(balanceOf(balanceValue(120)), 120);
    assert.equal(balanceProblem("p0", "a0/0", record("0")), undefined);
    assert.match(balanceProblem("p0", "a0/0", record("-5")) ?? "", /holds "-5", not a balance/);
    assert.match(balanceProblem("p0", "a0/0", record("007")) ?? "", /not a balance/);
    assert.match(balanceProblem("p0", "a0/0", undefined) ?? "", /account a0\/0 is gone/);
    assert.equal(totalProblem("the bank holds", 800, 800), undefined);
    assert.equal(totalProblem("the bank holds", 799, 800), "the bank holds 799, not the 800 the bank opened with");
  });
});
