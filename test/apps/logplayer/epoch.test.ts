/**
 * A player's epoch (apps/logplayer/core/epoch.ts) over real acceptor nodes in memory: each claim
 * takes the next epoch and learns what the one before named; players racing for an epoch each get
 * their own; a player naming other shards or another log is refused before it claims anything.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { claimEpoch } from "../../../apps/logplayer/core/epoch.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { drive } from "../../../wor/node/driver.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

describe("LogPlayer epochs", () => {
  let cluster: MemoryCluster;
  let client: WorClient;
  before(async () => {
    cluster = await MemoryCluster.start();
    client = cluster.client({ segmentSize: 64 }).client;
  });
  after(() => cluster.close());

  const fields = { log: "wal", shards: ["127.0.0.1:1", "127.0.0.1:2"] };

  it("each claim takes the next epoch and learns the one before", async () => {
    await client.createSpace("g1", { kind: "logplayer" });
    const a = await drive(claimEpoch("g1", "pa", fields), client);
    assert.ok(a.ok);
    assert.equal(a.value.epoch, 1);
    assert.equal(a.value.previous, undefined);
    const b = await drive(claimEpoch("g1", "pb", fields), client);
    assert.ok(b.ok);
    assert.equal(b.value.epoch, 2);
    assert.equal(b.value.previous?.owner, "pa");
    assert.deepEqual(b.value.previous?.shards, fields.shards);
  });

  it("players racing for the next epoch each get their own", async () => {
    await client.createSpace("g2", { kind: "logplayer" });
    const claims = await Promise.all(["p0", "p1", "p2", "p3"].map((p) => drive(claimEpoch("g2", p, fields), client)));
    const epochs = claims.map((c) => (c.ok ? c.value.epoch : -1)).sort();
    assert.deepEqual(epochs, [1, 2, 3, 4]);
  });

  it("a player naming other shards, or another log, is refused before it claims", async () => {
    await client.createSpace("g3", { kind: "logplayer" });
    assert.ok((await drive(claimEpoch("g3", "pa", fields), client)).ok);
    const reordered = await drive(claimEpoch("g3", "pb", { log: "wal", shards: [...fields.shards].reverse() }), client);
    assert.ok(!reordered.ok);
    assert.equal(reordered.failure.code, "invalid");
    assert.match(reordered.failure.message, /player group g3 refuses this player: it delivers to shards 127\.0\.0\.1:1,127\.0\.0\.1:2 \(in this order\)/);
    const otherLog = await drive(claimEpoch("g3", "pc", { ...fields, log: "other" }), client);
    assert.ok(!otherLog.ok);
    assert.match(otherLog.failure.message, /it plays log wal, not other/);
    const next = await drive(claimEpoch("g3", "pd", fields), client);
    assert.ok(next.ok);
    assert.equal(next.value.epoch, 2, "the refused players claimed nothing");
  });
});
