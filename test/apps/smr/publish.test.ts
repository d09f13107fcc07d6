/**
 * A replica's checkpoint record reaches the log even when its first publish is lost
 * (apps/smr/core/replica.ts): it is published through the leader again every `requestTimeoutMs`
 * until the replica applies it from the log. Before, it was sent once: with no leader known, a lost
 * message, or a leader that stopped before writing it, the record was gone, and once the holder
 * kept only newer checkpoints than its last record, no replica could catch up from it (the smr
 * world's seed 1663: every record of the one surviving holder's checkpoints was lost, a wiped
 * replica and a lagging leader waited forever).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeEntry } from "../../../apps/log/core/entry.ts";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { type PeerMessage, REPLICA_DEFAULTS } from "../../../apps/smr/core/messages.ts";
import { CHECKPOINT_STREAM, encodeRecord } from "../../../apps/smr/core/records.ts";
import { ReplicaCore } from "../../../apps/smr/core/replica.ts";

const REQUEST_TIMEOUT_MS = 1_000;

describe("a replica's checkpoint record", () => {
  it("is published again until the replica applies it from the log", () => {
    let now = 0;
    const core = new ReplicaCore(
      { ...REPLICA_DEFAULTS, smr: "smr", segmentSize: 8, id: "b", peers: ["a", "b", "c"], incarnation: "b1", seed: 7, electionTimeoutMs: 1e9, requestTimeoutMs: REQUEST_TIMEOUT_MS, idleReadMs: 1e9 },
      mapMachine,
      now,
    );
    /** The publishes sent after moving the clock to `at` (the steps asked for are never answered). */
    const publishes = (at: number): Extract<PeerMessage, { kind: "publish" }>["record"][] => {
      now = at;
      core.tick(now);
      const records = [];
      for (const { to, msg } of core.takeOutputs().sends) {
        if (msg.kind !== "publish") continue;
        assert.equal(to, "a", "published to the leader heard");
        records.push(msg.record);
      }
      return records;
    };
    // Stored while no leader is known: nowhere to send it.
    core.checkpointed(4, "d4", 40);
    assert.deepEqual(publishes(1), []);
    core.deliver("a", { kind: "heartbeat", owner: "a1", segment: 0, tail: 0, checkpoints: -1 }, now);
    assert.deepEqual(publishes(REQUEST_TIMEOUT_MS / 2), [], "published again before requestTimeoutMs");
    const record = { position: 4, digest: "d4", holder: "b", bytes: 40 };
    assert.deepEqual(publishes(REQUEST_TIMEOUT_MS + 1), [record], "the record was never published");
    // That one was lost too: again, a request timeout later.
    assert.deepEqual(publishes(2 * REQUEST_TIMEOUT_MS + 1), [record]);
    // The leader wrote it at slot 0; once applied, it is not published again.
    const slot = encodeEntry({ key: { client: "a1", seq: 0 }, streams: [{ tag: CHECKPOINT_STREAM, prev: -1 }], payload: encodeRecord({ kind: "checkpoint", record }) });
    core.learned(0, slot);
    assert.deepEqual(publishes(2 * REQUEST_TIMEOUT_MS + 2), []);
    assert.equal(core.status().checkpoints.b, 4, "the record was applied");
    assert.deepEqual(publishes(10 * REQUEST_TIMEOUT_MS), [], "published again after it was applied");
  });
});
