/**
 * The shard's rule (apps/logplayer/core/shard-core.ts): duplicates re-acked, a chained item
 * applied, a gap rewound; epochs fence; the binding is fixed at the first hello; no reply leaves
 * before the write that made it true is durable, and what arrives during a write forms the next.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Binding, Item, PlayerFrame } from "../../../apps/logplayer/core/items.ts";
import { ShardCore, type ShardWrite } from "../../../apps/logplayer/core/shard-core.ts";
import { mintReceipt } from "../../../paxos/held.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";

const BINDING: Binding = { group: "g", shard: 0, shards: 2 };
const data = (p: number) => Uint8Array.of(p);
const hello = (epoch: number, binding = BINDING): PlayerFrame => ({ kind: "hello", epoch, player: `p${epoch}`, binding });
const batch = (epoch: number, items: Item[]): PlayerFrame => ({ kind: "batch", epoch, items });
const item = (position: number, previous: number, watermark = false): Item => (watermark ? { position, previous } : { position, previous, data: data(position) });

/** A shard whose writes the test syncs by hand. */
function shard() {
  const core = new ShardCore({ applied: -1, epoch: 0 }, mintReceipt(0));
  let syncs = 0;
  const writes: ShardWrite[] = [];
  const sync = () => {
    const w = core.takeWrite();
    assert.ok(w, "a write was due");
    writes.push(w);
    core.durable(mintReceipt(++syncs));
  };
  return { core, sync, writes, replies: () => core.takeReplies().map((r) => ({ session: r.session, ...r.reply })) };
}

describe("ShardCore", () => {
  it("keeps the latest report of its epoch's player, in memory, and ignores or forgets another epoch's", () => {
    const s = shard();
    const r = (inflight: number) => ({ inflight, windowMax: 8, queued: 2, behind: inflight > 5 });
    s.core.receive(1, hello(2));
    s.sync();
    s.replies();
    s.core.receive(1, { kind: "report", epoch: 2, report: r(3) });
    assert.deepEqual(s.core.report, { epoch: 2, report: r(3) });
    assert.equal(s.core.takeWrite(), undefined, "a report is never written");
    assert.deepEqual(s.replies(), [], "nor answered");
    s.core.receive(1, { kind: "batch", epoch: 2, items: [item(0, -1)], report: r(6) });
    assert.deepEqual(s.core.report, { epoch: 2, report: r(6) }, "a report riding a batch");
    s.sync();
    s.core.receive(9, { kind: "report", epoch: 1, report: r(0) });
    s.core.receive(9, { kind: "batch", epoch: 1, items: [], report: r(0) });
    s.core.receive(9, { kind: "report", epoch: 3, report: r(0) });
    assert.deepEqual(s.core.report, { epoch: 2, report: r(6) }, "a fenced player's report, or one of an epoch no hello raised the shard to, is ignored");
    assert.deepEqual(s.core.clone().report, s.core.report);
    s.core.receive(3, hello(3));
    assert.equal(s.core.report, undefined, "a newer player's hello forgets the older one's report");
    s.core.receive(3, { kind: "report", epoch: 3, report: r(1) });
    assert.deepEqual(s.core.report, { epoch: 3, report: r(1) });
  });

  it("answers a hello with its durable state only once the binding is durable", () => {
    const s = shard();
    s.core.receive(1, hello(3));
    assert.deepEqual(s.replies(), [], "no reply before the write");
    s.sync();
    assert.deepEqual(s.replies(), [{ session: 1, kind: "state", applied: -1, epoch: 3 }]);
    assert.deepEqual(s.writes[0], { rows: [], applied: -1, epoch: 3, binding: BINDING });
  });

  it("applies chained items, drops duplicates and re-acks, rewinds on a gap", () => {
    const s = shard();
    s.core.receive(1, hello(1));
    s.sync();
    s.replies();
    s.core.receive(1, batch(1, [item(0, -1), item(2, 0)]));
    s.sync();
    assert.deepEqual(s.replies(), [{ session: 1, kind: "ack", applied: 2 }]);
    assert.deepEqual(
      s.writes[1]!.rows.map((r) => r.position),
      [0, 2],
    );
    // A duplicate changes nothing: its re-ack leaves at once.
    s.core.receive(1, batch(1, [item(2, 0)]));
    assert.equal(s.core.dirty, false);
    assert.deepEqual(s.replies(), [{ session: 1, kind: "ack", applied: 2 }]);
    // A gap: 5 says it follows 4, but the shard is at 2.
    s.core.receive(1, batch(1, [item(5, 4)]));
    assert.deepEqual(s.replies(), [{ session: 1, kind: "rewind", applied: 2 }]);
    assert.equal(s.core.applied, 2);
    assert.equal(s.core.counters.duplicates, 1);
    assert.equal(s.core.counters.rewinds, 1);
  });

  it("a watermark moves the applied position without a row", () => {
    const s = shard();
    s.core.receive(1, hello(1));
    s.sync();
    s.core.receive(1, batch(1, [item(4, -1, true)]));
    s.sync();
    assert.equal(s.core.applied, 4);
    assert.deepEqual(s.writes[1]!.rows, []);
    assert.equal(s.writes[1]!.applied, 4);
  });

  it("fences a lower epoch, at the hello and at a batch, and takes a higher one", () => {
    const s = shard();
    s.core.receive(1, hello(2));
    s.sync();
    s.replies();
    s.core.receive(2, hello(1));
    assert.deepEqual(s.replies(), [{ session: 2, kind: "fenced", epoch: 2 }]);
    s.core.receive(2, batch(1, [item(0, -1)]));
    assert.deepEqual(s.replies(), [{ session: 2, kind: "fenced", epoch: 2 }]);
    assert.equal(s.core.applied, -1, "nothing of the fenced epoch applied");
    s.core.receive(3, batch(3, [item(0, -1)]));
    s.sync();
    assert.equal(s.core.epoch, 3);
    assert.equal(s.writes[1]!.epoch, 3);
  });

  it("refuses a hello for another binding", () => {
    const s = shard();
    s.core.receive(1, hello(1));
    s.sync();
    s.replies();
    s.core.receive(2, hello(2, { group: "g", shard: 1, shards: 2 }));
    const [r] = s.replies();
    assert.equal(r?.kind, "refused");
    assert.match((r as { message: string }).message, /shard 0 of 2 of player group g, not shard 1 of 2/);
  });

  it("what arrives while a write is in flight forms the next write; its ack waits for it", () => {
    const s = shard();
    s.core.receive(1, hello(1));
    s.sync();
    s.replies();
    s.core.receive(1, batch(1, [item(0, -1)]));
    const first = s.core.takeWrite()!;
    assert.equal(s.core.writing, true);
    s.core.receive(1, batch(1, [item(1, 0)]));
    assert.equal(s.core.takeWrite(), undefined, "one write at a time");
    // A duplicate during the write: its re-ack must not overtake the write in flight.
    s.core.receive(1, batch(1, [item(0, -1)]));
    assert.deepEqual(s.replies(), []);
    s.core.durable(mintReceipt(2));
    assert.deepEqual(first.rows.map((r) => r.position), [0]);
    assert.deepEqual(s.replies(), [{ session: 1, kind: "ack", applied: 0 }]);
    const second = s.core.takeWrite()!;
    assert.deepEqual(second.rows.map((r) => r.position), [1]);
    s.core.durable(mintReceipt(3));
    // The acks to one session coalesce (cumulative): the duplicate's re-ack and the apply's ack are one.
    assert.deepEqual(s.replies(), [{ session: 1, kind: "ack", applied: 1 }]);
  });

  it("the planted bugs do what they say (so the checkers' tests mean something)", () => {
    plantBugForTest("applyWithoutPrevious", () => {
      const s = shard();
      s.core.receive(1, batch(1, [item(5, 4)]));
      assert.equal(s.core.applied, 5);
    });
    plantBugForTest("ackBeforePersist", () => {
      const s = shard();
      s.core.receive(1, batch(1, [item(0, -1)]));
      assert.deepEqual(s.replies(), [{ session: 1, kind: "ack", applied: 0 }]);
    });
    plantBugForTest("ignoreEpoch", () => {
      const s = shard();
      s.core.receive(1, hello(2));
      s.core.receive(2, batch(1, [item(0, -1)]));
      assert.equal(s.core.applied, 0);
    });
  });
});
