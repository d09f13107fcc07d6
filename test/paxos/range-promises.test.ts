/**
 * The range promises over an address or a range (paxos/acceptor.ts `rangePromiseOver`): a binary
 * search and a walk back over the rows that may reach it, not a pass over every row (a log holds
 * one row per segment captured and not yet trimmed). It must give exactly what a pass over every
 * row gives, for any sorted rows, overlapping or not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { rangePromiseOver } from "../../paxos/acceptor.ts";
import { type Ballot, OWNER_BALLOT, maxBallot } from "../../paxos/ballot.ts";
import type { RangePromise } from "../../paxos/messages.ts";
import { Prng } from "../../verify/runtime/prng.ts";

/** Every row, one by one: what the lookup must equal. */
function everyRow(ranges: readonly RangePromise[], from: number, to: number): Ballot {
  let promised = OWNER_BALLOT;
  for (const r of ranges) if (r.from < to && from < r.to) promised = maxBallot(promised, r.ballot);
  return promised;
}

function randomRows(rng: Prng, n: number, span: number, lengthMax: number): RangePromise[] {
  const rows = Array.from({ length: n }, () => {
    const from = rng.int(span);
    return { from, to: from + 1 + rng.int(lengthMax), ballot: { round: 1 + rng.int(6), proposer: rng.int(4) } };
  });
  return rows.sort((a, b) => a.from - b.from);
}

test("the lookup equals a pass over every row: random sorted rows, overlapping, nested, repeated starts", () => {
  const rng = new Prng(15);
  let checked = 0;
  let found = 0;
  for (let round = 0; round < 400; round++) {
    const rows = randomRows(rng, rng.int(40), 100, rng.chance(0.3) ? 60 : 12);
    for (let q = 0; q < 50; q++) {
      const from = rng.int(130);
      const to = from + 1 + (rng.chance(0.5) ? 0 : rng.int(25));
      const want = everyRow(rows, from, to);
      assert.deepEqual(rangePromiseOver(rows, from, to), want, `rows ${JSON.stringify(rows)} over [${from}, ${to})`);
      checked++;
      if (want !== OWNER_BALLOT) found++;
    }
  }
  assert.ok(found > checked / 4 && found < checked, `the cases mix covered and uncovered queries (${found} of ${checked} covered)`);
});

test("a log's rows (one per segment, ascending ballots): each address finds its segment's row", () => {
  const rows: RangePromise[] = Array.from({ length: 4096 }, (_, s) => ({ from: s * 4096, to: (s + 1) * 4096, ballot: { round: s + 1, proposer: 1 } }));
  for (const index of [0, 4095, 4096, 7 * 4096 + 5, 4096 * 4096 - 1]) {
    assert.deepEqual(rangePromiseOver(rows, index, index + 1), { round: Math.floor(index / 4096) + 1, proposer: 1 });
  }
  assert.deepEqual(rangePromiseOver(rows, 4096 * 4096, 4096 * 4096 + 1), OWNER_BALLOT, "past the last segment");
  assert.deepEqual(rangePromiseOver(rows, 4095, 8193), { round: 3, proposer: 1 }, "a range over three segments");
});

test("rows out of order are refused, not misread", () => {
  const rows: RangePromise[] = [
    { from: 10, to: 20, ballot: { round: 2, proposer: 1 } },
    { from: 0, to: 5, ballot: { round: 1, proposer: 1 } },
  ];
  assert.throws(() => rangePromiseOver(rows, 3, 4), /range promises are sorted by their start/);
});
