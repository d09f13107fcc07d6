/** Property tests: ballot and quorum helpers against naive versions (fast-check). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Ballot, compareBallots, isValidBallot, maxBallot, nextBallot } from "../../paxos/ballot.ts";
import { canReach, isValidQuorum, majority } from "../../paxos/quorum.ts";

const part = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const ballot = fc.record({ round: part, proposer: part });
/** Naive order: compare as the string of two zero-padded decimals. */
const key = (b: Ballot) => `${String(b.round).padStart(16, "0")}:${String(b.proposer).padStart(16, "0")}`;
const naiveCompare = (a: Ballot, b: Ballot) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

describe("ballots", () => {
  it("order lexicographically by (round, proposer), like the naive string order", () => {
    fc.assert(fc.property(ballot, ballot, (a, b) => compareBallots(a, b) === naiveCompare(a, b)));
  });
  it("compare is a total order: antisymmetric and transitive", () => {
    fc.assert(
      fc.property(ballot, ballot, ballot, (a, b, c) => {
        assert.equal(Math.sign(compareBallots(a, b)), -Math.sign(compareBallots(b, a)));
        if (compareBallots(a, b) <= 0 && compareBallots(b, c) <= 0) assert.ok(compareBallots(a, c) <= 0);
      }),
    );
  });
  it("max picks the larger, and nextBallot is above what was seen", () => {
    fc.assert(
      fc.property(ballot, ballot, fc.integer({ min: 1, max: 2 ** 40 }), (a, b, p) => {
        const m = maxBallot(a, b);
        assert.ok(compareBallots(m, a) >= 0 && compareBallots(m, b) >= 0);
        assert.ok(m === a || m === b);
        if (a.round < Number.MAX_SAFE_INTEGER) assert.ok(compareBallots(nextBallot(a, p), a) > 0);
      }),
    );
  });
  it("validity: round 0 only as the owner ballot; exact non-negative integers", () => {
    assert.ok(isValidBallot({ round: 0, proposer: 0 }));
    assert.ok(!isValidBallot({ round: 0, proposer: 3 }));
    assert.ok(!isValidBallot({ round: 2, proposer: 0 }));
    assert.ok(!isValidBallot({ round: -1, proposer: 1 }));
    assert.ok(!isValidBallot({ round: 1.5, proposer: 1 }));
    assert.ok(!isValidBallot({ round: 2 ** 53, proposer: 1 }));
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 1, max: 1e9 }), (r, p) => isValidBallot({ round: r, proposer: p })));
  });
});

describe("quorums", () => {
  /** Naive: every pair of subsets of size q of n elements intersects (checked by counting). */
  const naiveIntersects = (q: number, n: number) => q <= n && q + q > n;
  it("majority is the smallest size whose any two subsets intersect", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99 }), (n) => {
        const m = majority(n);
        assert.ok(naiveIntersects(m, n));
        assert.ok(!naiveIntersects(m - 1, n));
      }),
    );
  });
  it("isValidQuorum agrees with the naive intersection test", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 20 }), (q, n) => isValidQuorum(q, n) === naiveIntersects(q, n)));
  });
  it("canReach agrees with enumerating the outstanding replies", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 9 }), (count, outstanding, q) => {
        let best = count;
        for (let i = 0; i < outstanding; i++) best++;
        return canReach(count, outstanding, q) === best >= q;
      }),
    );
  });
});
