/** Where a striped space's addresses live (wor/node/stripes.ts), pure. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { allocSpaceOf, metaSpaceOf } from "../../paxos/limits.ts";
import { groupAt, segmentOf, segmentRuns, spansOf } from "../../wor/node/stripes.ts";

const stripe = { groups: ["main", "g1", "g2"], segmentSize: 64 };

test("segment k and its allocation register are on group k mod n; the metadata on the main group", () => {
  assert.deepEqual([0, 63, 64, 191, 192].map((i) => groupAt(stripe, "l", i)), ["main", "main", "g1", "g2", "main"]);
  assert.deepEqual([0, 1, 2, 3].map((k) => groupAt(stripe, allocSpaceOf("l"), k)), ["main", "g1", "g2", "main"]);
  assert.equal(segmentOf(stripe, metaSpaceOf("l"), 0), undefined);
  assert.equal(groupAt(stripe, metaSpaceOf("l"), 0), "main");
});

test("a range's spans name every group holding an address of it, and only those", () => {
  fc.assert(
    fc.property(fc.constantFrom("l", allocSpaceOf("l")), fc.nat(2_000), fc.nat(400), (space, from, n) => {
      const spans = spansOf(stripe, space, from, from + n);
      const holders = new Set(Array.from({ length: n }, (_, k) => groupAt(stripe, space, from + k)));
      assert.deepEqual([...spans.keys()].sort(), n === 0 ? ["main"] : [...holders].sort());
      for (const r of spans.values()) assert.ok(r.from <= from && r.to >= from + n);
    }),
  );
});

test("a range cut at segment boundaries: each run on one segment, together the whole range", () => {
  assert.deepEqual(segmentRuns(stripe, "l", 60, 200), [
    { from: 60, to: 64 },
    { from: 64, to: 128 },
    { from: 128, to: 192 },
    { from: 192, to: 200 },
  ]);
  assert.deepEqual(segmentRuns(stripe, allocSpaceOf("l"), 3, 5), [
    { from: 3, to: 4 },
    { from: 4, to: 5 },
  ]);
  assert.deepEqual(segmentRuns(stripe, "l", 10, 10), []);
});
