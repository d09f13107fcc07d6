/** Proposer tallies: adoption of the highest accepted value, votes per address, read verdicts. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Ballot } from "../../paxos/ballot.ts";
import { AcceptTally, PrepareTally, ReadTally } from "../../paxos/proposer.ts";

const b = (round: number, proposer: number): Ballot => ({ round, proposer });
const v = (s: string) => new TextEncoder().encode(s);
const txt = (u: Uint8Array) => new TextDecoder().decode(u);
const three = { acceptors: 3, quorum: 2 };

describe("PrepareTally", () => {
  it("adopts, per address, the value of the highest ballot among the promises", () => {
    const t = new PrepareTally(three, b(9, 1));
    t.add(0, { kind: "promise", ballot: b(9, 1), accepted: [{ index: 4, promised: b(9, 1), accepted: { ballot: b(2, 1), value: v("old") }, committed: false }] });
    assert.equal(t.outcome().kind, "pending");
    t.add(1, { kind: "promise", ballot: b(9, 1), accepted: [{ index: 4, promised: b(9, 1), accepted: { ballot: b(3, 2), value: v("new") }, committed: false }] });
    const o = t.outcome();
    assert.equal(o.kind, "captured");
    if (o.kind === "captured") assert.equal(txt(o.adopted.get(4)!.value), "new");
  });
  it("is preempted once a quorum can no longer promise, naming the highest promise", () => {
    const t = new PrepareTally(three, b(2, 1));
    t.add(0, { kind: "prepareRejected", promised: b(3, 2) });
    t.add(1, { kind: "prepareRejected", promised: b(5, 1) });
    assert.deepEqual(t.outcome(), { kind: "preempted", by: b(5, 1) });
  });
  it("ignores promises for another ballot and repeated replies", () => {
    const t = new PrepareTally(three, b(2, 1));
    t.add(0, { kind: "promise", ballot: b(1, 1), accepted: [] });
    t.add(1, { kind: "promise", ballot: b(2, 1), accepted: [] });
    t.add(1, { kind: "promise", ballot: b(2, 1), accepted: [] });
    assert.equal(t.outcome().kind, "pending");
  });
});

describe("AcceptTally", () => {
  it("decides each address on its own: ok, alreadyWritten, preempted", () => {
    const t = new AcceptTally(three, b(2, 1), [1, 2, 3]);
    t.add(0, { kind: "voted", ballot: b(2, 1), refused: [{ index: 2, promised: b(4, 1), trimmed: false, chosen: v("theirs") }, { index: 3, promised: b(4, 1), trimmed: false }] });
    t.add(1, { kind: "voted", ballot: b(2, 1), refused: [{ index: 3, promised: b(5, 1), trimmed: false }] });
    assert.deepEqual(t.outcome(1), { kind: "ok" });
    const two = t.outcome(2);
    assert.ok(two.kind === "alreadyWritten" && txt(two.value) === "theirs");
    assert.deepEqual(t.outcome(3), { kind: "preempted", by: b(5, 1) });
    assert.ok(t.decided());
  });
});

describe("ReadTally", () => {
  it("written once a quorum accepted the same ballot, or any acceptor knows it committed", () => {
    const t = new ReadTally(three, 0, 3);
    const acc = (i: number, ballot: Ballot, s: string, committed = false) => ({ index: i, promised: ballot, accepted: { ballot, value: v(s) }, committed });
    t.add(0, { kind: "states", trimMark: 0, ranges: [], addresses: [acc(0, b(1, 1), "x"), acc(1, b(1, 1), "y", true), acc(2, b(1, 1), "z")] });
    t.add(1, { kind: "states", trimMark: 0, ranges: [], addresses: [acc(0, b(1, 1), "x")] });
    const w0 = t.outcome(0);
    assert.ok(w0.kind === "written" && txt(w0.value) === "x");
    const w1 = t.outcome(1);
    assert.ok(w1.kind === "written" && txt(w1.value) === "y");
    assert.equal(t.outcome(2).kind, "undecided", "one value, one empty, one reply to come");
    assert.equal(t.outcome(2, true).kind, "pending");
  });
  it("unwritten when a quorum reports nothing; trimmed below any reported mark", () => {
    const t = new ReadTally(three, 0, 10);
    t.add(0, { kind: "states", trimMark: 4, ranges: [], addresses: [] });
    t.add(2, { kind: "states", trimMark: 0, ranges: [], addresses: [] });
    assert.equal(t.outcome(7).kind, "unwritten");
    assert.equal(t.outcome(3).kind, "trimmed");
    assert.ok(t.decided(false));
  });
});
