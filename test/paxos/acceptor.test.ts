/** Every acceptor transition, with the invariants checked after every step (docs/ARCHITECTURE.md §3.2). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type AcceptorState, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import type { Ballot } from "../../paxos/ballot.ts";
import { mintReceipt, release } from "../../paxos/held.ts";
import type { Reply, Request } from "../../paxos/messages.ts";

const b = (round: number, proposer: number): Ballot => ({ round, proposer });
const OWNER = b(0, 0);
const v = (s: string) => new TextEncoder().encode(s);

/** One checked step: the invariants must hold, and the replies are released as after a sync. */
function run(state: AcceptorState, request: Request) {
  const before = snapshotAcceptor(state);
  const out = step(state, request);
  assert.deepEqual(checkAcceptorStep(before, out.state, request), [], `invariants after ${request.kind}`);
  const replies = release(out.replies, mintReceipt(1));
  assert.equal(replies.length, 1);
  return { reply: replies[0] as Reply, persist: out.persist, learned: out.learned };
}

function withSpace(): AcceptorState {
  const s = emptyAcceptor();
  run(s, { kind: "createSpace", space: "s" });
  return s;
}

describe("acceptor: spaces", () => {
  it("createSpace creates the space and its allocation and metadata spaces, idempotently, and persists once", () => {
    const s = emptyAcceptor();
    const first = run(s, { kind: "createSpace", space: "s" });
    assert.equal(first.reply.kind, "spaceCreated");
    assert.deepEqual(first.persist.map((m) => m.kind === "space" && m.space), ["s", "$alloc/s", "$meta/s"]);
    assert.equal(run(s, { kind: "createSpace", space: "s" }).persist.length, 0);
  });
  it("rejects bad names and unknown spaces with clear errors", () => {
    const s = emptyAcceptor();
    const bad = run(s, { kind: "createSpace", space: "$alloc/x" }).reply;
    assert.ok(bad.kind === "error" && bad.code === "invalid");
    const unknown = run(s, { kind: "read", space: "nope", from: 0, to: 1 }).reply;
    assert.ok(unknown.kind === "error" && unknown.code === "unknownSpace");
  });
});

describe("acceptor: prepare", () => {
  it("grants a single address and reports nothing accepted", () => {
    const s = withSpace();
    const { reply, persist } = run(s, { kind: "prepare", space: "s", from: 3, to: 4, ballot: b(1, 1) });
    assert.deepEqual(reply, { kind: "promise", ballot: b(1, 1), accepted: [] });
    assert.equal(persist[0]?.kind, "address");
  });
  it("grants a range with one row, reporting accepted values in it", () => {
    const s = withSpace();
    run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 5, value: v("x") }] });
    const { reply, persist } = run(s, { kind: "prepare", space: "s", from: 0, to: 100, ballot: b(2, 1) });
    assert.equal(reply.kind, "promise");
    if (reply.kind === "promise") assert.deepEqual(reply.accepted.map((a) => a.index), [5]);
    assert.deepEqual(persist.map((m) => m.kind), ["ranges"]);
    assert.equal(s.spaces.get("s")!.ranges.length, 1);
  });
  it("a covering higher range compacts the rows it dominates", () => {
    const s = withSpace();
    run(s, { kind: "prepare", space: "s", from: 0, to: 10, ballot: b(1, 1) });
    run(s, { kind: "prepare", space: "s", from: 10, to: 20, ballot: b(1, 1) });
    run(s, { kind: "prepare", space: "s", from: 0, to: 20, ballot: b(2, 1) });
    assert.deepEqual(s.spaces.get("s")!.ranges, [{ from: 0, to: 20, ballot: b(2, 1) }]);
  });
  it("rejects a ballot below any promise in the range, and re-grants the same ballot", () => {
    const s = withSpace();
    run(s, { kind: "prepare", space: "s", from: 50, to: 51, ballot: b(5, 2) });
    assert.deepEqual(run(s, { kind: "prepare", space: "s", from: 0, to: 100, ballot: b(4, 9) }).reply, { kind: "prepareRejected", promised: b(5, 2) });
    const again = run(s, { kind: "prepare", space: "s", from: 50, to: 51, ballot: b(5, 2) });
    assert.deepEqual([again.reply.kind, again.persist.length], ["promise", 0], "a repeated prepare persists nothing");
    run(s, { kind: "prepare", space: "s", from: 60, to: 70, ballot: b(6, 2) });
    const rangeAgain = run(s, { kind: "prepare", space: "s", from: 60, to: 70, ballot: b(6, 2) });
    assert.deepEqual([rangeAgain.reply.kind, rangeAgain.persist.length], ["promise", 0]);
  });
  it("a prepare of part of a range promised at the same ballot (a client asking again in halves) persists nothing and reports that part", () => {
    const s = withSpace();
    run(s, { kind: "prepare", space: "s", from: 0, to: 1, ballot: b(1, 1) });
    run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 0, value: v("x") }] });
    run(s, { kind: "prepare", space: "s", from: 0, to: 100, ballot: b(2, 1) });
    for (const [from, to] of [
      [0, 50],
      [50, 100],
      [0, 1],
    ] as const) {
      const half = run(s, { kind: "prepare", space: "s", from, to, ballot: b(2, 1) });
      assert.equal(half.persist.length, 0, `[${from}, ${to}) persists nothing`);
      assert.equal(half.reply.kind, "promise");
      if (half.reply.kind === "promise") assert.deepEqual(half.reply.accepted.map((a) => a.index), from === 0 ? [0] : []);
    }
    assert.deepEqual(s.spaces.get("s")!.ranges, [{ from: 0, to: 100, ballot: b(2, 1) }], "no row was added");
  });
  it("refuses the owner ballot, empty or oversized ranges", () => {
    const s = withSpace();
    for (const r of [
      { from: 0, to: 1, ballot: OWNER },
      { from: 5, to: 5, ballot: b(1, 1) },
      { from: 0, to: 2 ** 21, ballot: b(1, 1) },
    ]) {
      const reply = run(s, { kind: "prepare", space: "s", ...r }).reply;
      assert.equal(reply.kind, "error");
    }
  });
});

describe("acceptor: accept", () => {
  it("accepts at the promised ballot and raises the promise", () => {
    const s = withSpace();
    run(s, { kind: "prepare", space: "s", from: 0, to: 10, ballot: b(1, 1) });
    const { reply, persist } = run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 3, value: v("a") }] });
    assert.deepEqual(reply, { kind: "voted", ballot: b(1, 1), refused: [] });
    assert.equal(persist.length, 1);
  });
  it("refuses below the promise, naming it, and names the chosen value when it knows it", () => {
    const s = withSpace();
    run(s, { kind: "prepare", space: "s", from: 0, to: 10, ballot: b(3, 1) });
    run(s, { kind: "accept", space: "s", ballot: b(3, 1), entries: [{ index: 1, value: v("won") }] });
    run(s, { kind: "commit", space: "s", ballot: b(3, 1), indexes: [1] });
    const { reply, persist } = run(s, { kind: "accept", space: "s", ballot: b(2, 7), entries: [{ index: 1, value: v("late") }, { index: 2, value: v("late") }] });
    assert.equal(reply.kind, "voted");
    if (reply.kind !== "voted") return;
    assert.equal(persist.length, 0);
    assert.deepEqual(reply.refused.map((r) => [r.index, r.promised, r.chosen && new TextDecoder().decode(r.chosen)]), [
      [1, b(3, 1), "won"],
      [2, b(3, 1), undefined],
    ]);
  });
  it("owner ballot: accepted only where nothing was promised or accepted; repeats are idempotent", () => {
    const s = withSpace();
    const ok = run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 1, value: v("yes") }] }).reply;
    assert.ok(ok.kind === "voted" && ok.refused.length === 0);
    const again = run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 1, value: v("yes") }] });
    assert.ok(again.reply.kind === "voted" && again.reply.refused.length === 0 && again.persist.length === 0);
    const other = run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 1, value: v("no") }] }).reply;
    assert.ok(other.kind === "voted" && other.refused.length === 1);
    run(s, { kind: "prepare", space: "s", from: 2, to: 3, ballot: b(1, 1) });
    const promised = run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 2, value: v("yes") }] }).reply;
    assert.ok(promised.kind === "voted" && promised.refused[0]?.index === 2);
  });
  it("one ballot never carries two values to one address", () => {
    const s = withSpace();
    run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 4, value: v("a") }] });
    const r = run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 4, value: v("b") }] }).reply;
    assert.ok(r.kind === "voted" && r.refused.length === 1);
  });
  it("rejects empty, repeated-index and malformed accepts", () => {
    const s = withSpace();
    assert.equal(run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [] }).reply.kind, "error");
    const rep = run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 1, value: v("a") }, { index: 1, value: v("a") }] }).reply;
    assert.ok(rep.kind === "error" && rep.code === "invalid");
    assert.equal(run(s, { kind: "accept", space: "s", ballot: b(0, 5), entries: [{ index: 1, value: v("a") }] }).reply.kind, "error");
  });
});

describe("acceptor: commit, read, trim", () => {
  it("commit marks only a matching ballot, learns it, and persists nothing", () => {
    const s = withSpace();
    run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 1, value: v("a") }, { index: 2, value: v("b") }] });
    const c = run(s, { kind: "commit", space: "s", ballot: b(1, 1), indexes: [1, 9] });
    assert.equal(c.reply.kind, "committed");
    assert.equal(c.persist.length, 0);
    assert.deepEqual(c.learned.map((l) => l.index), [1]);
    assert.equal(run(s, { kind: "commit", space: "s", ballot: b(2, 1), indexes: [2] }).learned.length, 0);
    assert.equal(s.spaces.get("s")!.addresses.get(2)!.committed, false);
  });
  it("read reports own states with effective promises, the ranges and the trim mark", () => {
    const s = withSpace();
    run(s, { kind: "accept", space: "s", ballot: b(1, 1), entries: [{ index: 7, value: v("a") }] });
    run(s, { kind: "prepare", space: "s", from: 0, to: 64, ballot: b(4, 2) });
    const r = run(s, { kind: "read", space: "s", from: 0, to: 10 }).reply;
    assert.equal(r.kind, "states");
    if (r.kind !== "states") return;
    assert.equal(r.trimMark, 0);
    assert.deepEqual(r.addresses.map((a) => [a.index, a.promised]), [[7, b(4, 2)]]);
    assert.equal(r.ranges.length, 1);
  });
  it("trim is monotone, drops state below the mark, and refuses everything there", () => {
    const s = withSpace();
    run(s, { kind: "accept", space: "s", ballot: OWNER, entries: [{ index: 1, value: v("a") }, { index: 30, value: v("b") }] });
    run(s, { kind: "prepare", space: "s", from: 0, to: 8, ballot: b(1, 1) });
    assert.deepEqual(run(s, { kind: "trim", space: "s", below: 10 }).reply, { kind: "trimmed", mark: 10 });
    assert.equal(s.spaces.get("s")!.addresses.has(1), false);
    assert.equal(s.spaces.get("s")!.ranges.length, 0);
    const back = run(s, { kind: "trim", space: "s", below: 5 });
    assert.deepEqual([back.reply, back.persist.length], [{ kind: "trimmed", mark: 10 }, 0]);
    assert.deepEqual(run(s, { kind: "prepare", space: "s", from: 9, to: 12, ballot: b(2, 1) }).reply, { kind: "trimmed", mark: 10 });
    const acc = run(s, { kind: "accept", space: "s", ballot: b(9, 1), entries: [{ index: 3, value: v("x") }] }).reply;
    assert.ok(acc.kind === "voted" && acc.refused[0]?.trimmed);
    const rd = run(s, { kind: "read", space: "s", from: 0, to: 40 }).reply;
    assert.ok(rd.kind === "states" && rd.trimMark === 10 && rd.addresses.every((a) => a.index >= 10));
  });
});

describe("acceptor: random request sequences keep every invariant", () => {
  const ballotArb = fc.oneof(fc.constant(OWNER), fc.record({ round: fc.integer({ min: 1, max: 6 }), proposer: fc.integer({ min: 1, max: 3 }) }));
  const index = fc.integer({ min: 0, max: 12 });
  const value = fc.constantFrom("a", "b", "c").map(v);
  const request: fc.Arbitrary<Request> = fc.oneof(
    fc.record({ kind: fc.constant("prepare" as const), space: fc.constant("s"), from: index, span: fc.integer({ min: 1, max: 6 }), ballot: ballotArb }).map(({ span, from, ...r }) => ({ ...r, from, to: from + span })),
    fc.record({ kind: fc.constant("accept" as const), space: fc.constant("s"), ballot: ballotArb, entries: fc.uniqueArray(fc.record({ index, value }), { minLength: 1, maxLength: 4, selector: (e) => e.index }) }),
    fc.record({ kind: fc.constant("commit" as const), space: fc.constant("s"), ballot: ballotArb, indexes: fc.array(index, { maxLength: 3 }) }),
    fc.record({ kind: fc.constant("read" as const), space: fc.constant("s"), from: index, to: fc.constant(20) }),
    fc.record({ kind: fc.constant("trim" as const), space: fc.constant("s"), below: fc.integer({ min: 0, max: 8 }) }),
  );
  it("holds over 300 random sequences", () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 40 }), (requests) => {
        const s = withSpace();
        for (const r of requests) run(s, r);
      }),
      { numRuns: 300 },
    );
  });
});
