/**
 * The owner names of KV nodes' sequencers (apps/kv/core/log-writer.ts): the map epoch reads back
 * from a name of the same KV and partition only; a node gives way to a writer of a strictly newer
 * epoch, never to an older one, its own epoch, another partition's or an old-style name (one that
 * carries no epoch, written before names did).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { givesWayTo, logWriter, writerEpoch } from "../../../apps/kv/core/log-writer.ts";

test("a writer's name gives back its epoch, for its own KV and partition only", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.nat(64), fc.nat(1 << 30), fc.uuid(), (kv, p, epoch, uuid) => {
      const name = logWriter(kv, p, epoch, uuid);
      assert.equal(writerEpoch(kv, p, name), epoch);
      assert.equal(writerEpoch(kv, p + 1, name), undefined);
      assert.equal(writerEpoch(`${kv}x`, p, name), undefined);
    }),
  );
});

test("a node gives way to a writer of a newer epoch only: not an older one, not its own epoch's, not another partition's, not an old-style name", () => {
  const of = (p: number, e: number) => logWriter("kv", p, e, randomUUID());
  const mine = givesWayTo("kv", 1, 3);
  assert.equal(mine(of(1, 4)), true);
  assert.equal(mine(of(1, 40)), true);
  assert.equal(mine(of(1, 3)), false, "another incarnation of its own epoch (a restart) is fenced, not given way to");
  assert.equal(mine(of(1, 2)), false);
  assert.equal(mine(of(2, 9)), false);
  // Names from before epochs were in them: `kv-<kv>-p<k>-<uuid>`, even one whose UUID begins e<digits>.
  assert.equal(mine("kv-kv-p1-e1234567-89ab-4cde-8f01-23456789abcd"), false);
  assert.equal(mine(`kv-kv-p1-${randomUUID()}`), false);
  assert.equal(mine("seq-12"), false);
  // No two writers give way to each other.
  fc.assert(
    fc.property(fc.nat(100), fc.nat(100), (a, b) => {
      assert.ok(!(givesWayTo("kv", 0, a)(of(0, b)) && givesWayTo("kv", 0, b)(of(0, a))));
    }),
  );
});
