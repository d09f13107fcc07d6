import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Ballot, ballotEq, ballotLt } from "../../paxos/ballot.ts";
import { plantBugForTest } from "../../verify/runtime/planted.ts";
import { QuorumLearner, WatchLearner } from "../../wor/core/quorum-learner.ts";

const b = (round: number, proposer: number): Ballot => ({ round, proposer });
const v = (n: number) => new Uint8Array([n]);

interface Heard {
  readonly acceptor: number;
  readonly index: number;
  readonly ballot: Ballot;
  readonly value: number;
}

const heardArb = fc.record({
  acceptor: fc.integer({ min: 0, max: 4 }),
  index: fc.integer({ min: 0, max: 3 }),
  ballot: fc.constantFrom(b(0, 0), b(1, 1), b(1, 2), b(2, 1)),
  value: fc.integer({ min: 0, max: 2 }),
});

/** Replays `events` into a learner and checks each answer against the rule, computed from scratch. */
function replay(events: readonly Heard[], quorum: number): void {
  const learner = new QuorumLearner(quorum);
  const said = new Map<string, Set<number>>();
  const learned = new Set<number>();
  for (const e of events) {
    const key = `${e.index}/${e.ballot.round}:${e.ballot.proposer}/${e.value}`;
    let who = said.get(key);
    if (!who) said.set(key, (who = new Set()));
    who.add(e.acceptor);
    // The caller (a watch) stops asking about an index once it learned it.
    if (learned.has(e.index)) continue;
    const out = learner.heard(e.acceptor, e.index, e.ballot, v(e.value));
    if (out !== undefined) {
      // Safety: a quorum of distinct acceptors said exactly this ballot and value for this index.
      assert.deepEqual([...out], [e.value]);
      assert.ok(who.size >= quorum, `learned ${key} from ${who.size} acceptors`);
      learned.add(e.index);
    } else {
      // Liveness: once a quorum said it, the learner says so (while the index is open).
      assert.ok(who.size < quorum, `${key} heard from ${who.size} acceptors but not learned`);
    }
  }
}

test("a value is learned exactly when a quorum of distinct acceptors accepted it at one ballot", () => {
  fc.assert(
    fc.property(fc.array(heardArb, { maxLength: 60 }), fc.constantFrom(2, 3), (events, quorum) => replay(events, quorum)),
    { numRuns: 2_000 },
  );
});

test("one acceptor repeating itself, or a quorum split over ballots or values, learns nothing", () => {
  const l = new QuorumLearner(2);
  assert.equal(l.heard(0, 7, b(1, 1), v(1)), undefined);
  assert.equal(l.heard(0, 7, b(1, 1), v(1)), undefined, "the same acceptor twice");
  assert.equal(l.heard(1, 7, b(1, 2), v(1)), undefined, "another ballot");
  assert.equal(l.heard(2, 7, b(1, 1), v(2)), undefined, "another value at the ballot (a misused owner write)");
  assert.deepEqual(l.heard(1, 7, b(1, 1), v(1)), v(1));
  assert.equal(l.open, 0, "a learned index closes its tally");
});

test("open tallies are bounded: the oldest address is forgotten first", () => {
  const l = new QuorumLearner(2, 3);
  for (const i of [10, 11, 12, 13]) l.heard(0, i, b(1, 1), v(i));
  assert.equal(l.open, 3);
  assert.equal(l.heard(1, 10, b(1, 1), v(10)), undefined, "10 was forgotten: one acceptor heard since");
  assert.deepEqual(l.heard(1, 13, b(1, 1), v(13)), v(13));
});

test("the property catches the planted learnBelowQuorum", () => {
  const events: Heard[] = [{ acceptor: 0, index: 1, ballot: b(1, 1), value: 1 }];
  assert.throws(() => plantBugForTest("learnBelowQuorum", () => replay(events, 2)), /learned .* from 1 acceptors/);
  replay(events, 2);
});

/** Acceptor `acceptor` accepted `value` at `ballot` for `index` (pushed with it), or learned it
 *  chosen (a commit notice, `told`: without the value, naming its own last push at that ballot). */
type Push = { readonly kind: "accepted"; readonly acceptor: number; readonly ballot: Ballot; readonly value: number } | { readonly kind: "learned"; readonly acceptor: number };

const pushArb = fc.oneof(
  fc.record({ kind: fc.constant("accepted" as const), acceptor: fc.integer({ min: 0, max: 2 }), ballot: fc.constantFrom(b(1, 1), b(1, 2), b(2, 1)), value: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant("learned" as const), acceptor: fc.integer({ min: 0, max: 2 }) }),
);

/**
 * Replays pushes for one index into a `WatchLearner`, as acceptors send them (wor/node/node-replies.ts):
 * a commit names the ballot of the acceptor's last accepted push and comes without the value when
 * that acceptor pushed exactly one value at that ballot. A delivered value must be the one that
 * acceptor accepted last; one delivery at most.
 */
function replayPushes(pushes: readonly Push[]): void {
  const learner = new WatchLearner(0, 2);
  const last = new Map<number, { ballot: Ballot; value: number; once: boolean }>();
  let delivered: number | undefined;
  for (const p of pushes) {
    if (p.kind === "accepted") {
      const before = last.get(p.acceptor);
      if (before && ballotLt(p.ballot, before.ballot)) continue; // an acceptor never accepts a lower ballot
      const once = !before || !ballotEq(before.ballot, p.ballot);
      last.set(p.acceptor, { ballot: p.ballot, value: p.value, once });
      const out = learner.accepted(p.acceptor, 0, p.ballot, v(p.value));
      if (out) delivered = assertFirst(delivered, out);
      continue;
    }
    const a = last.get(p.acceptor);
    if (!a) continue; // an acceptor commits only what it accepted
    const out = learner.learned(p.acceptor, 0, a.ballot, a.once ? undefined : v(a.value));
    if (!out) {
      assert.ok(delivered !== undefined, "a commit notice of a value the watch was pushed delivers it");
      continue;
    }
    assert.deepEqual([...out], [a.value], "a commit notice delivers the value its acceptor accepted at that ballot");
    delivered = assertFirst(delivered, out);
  }
}

function assertFirst(delivered: number | undefined, out: Uint8Array): number {
  assert.equal(delivered, undefined, "an index is delivered once");
  return out[0]!;
}

test("a commit notice without its value delivers the value that acceptor pushed as accepted at that ballot", () => {
  fc.assert(fc.property(fc.array(pushArb, { maxLength: 30 }), replayPushes), { numRuns: 3_000 });
  const w = new WatchLearner(0, 3);
  assert.equal(w.learned(0, 5, b(1, 1), undefined), undefined, "nothing heard from that acceptor: not delivered (the watcher reads it)");
  assert.equal(w.accepted(0, 5, b(1, 1), v(4)), undefined);
  assert.deepEqual(w.learned(0, 5, b(1, 1), undefined), v(4));
  assert.equal(w.learned(1, 5, b(1, 1), v(4)), undefined, "delivered once");
});

test("the property catches the planted learnUntold", () => {
  const pushes: Push[] = [
    { kind: "accepted", acceptor: 0, ballot: b(1, 1), value: 1 },
    { kind: "accepted", acceptor: 0, ballot: b(2, 1), value: 2 },
    { kind: "learned", acceptor: 0 },
  ];
  assert.throws(() => plantBugForTest("learnUntold", () => replayPushes(pushes)), /delivers the value its acceptor accepted/);
  replayPushes(pushes);
});
