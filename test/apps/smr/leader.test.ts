/**
 * A leader whose claim of a next segment is lost to a rival (the rival allocated it first) steps
 * down, and announces nothing in between: one `ReplicaCore` driven step by step over an in-memory
 * cluster, the clock moved past the heartbeat interval before every output, so a heartbeat is due
 * in the very output that follows the lost claim. (Before, the leader still counted as ready there
 * and sent a heartbeat without a tail, which the wire cannot encode: the replica node's flush threw.)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { type PeerMessage, REPLICA_DEFAULTS } from "../../../apps/smr/core/messages.ts";
import { ReplicaCore } from "../../../apps/smr/core/replica.ts";
import { isRegisterStep } from "../../../wor/core/steps.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { registerStep } from "../../../wor/node/driver.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

const SMR = "rivals";
const SEGMENT = 4;

describe("an SMR leader outclaimed by a rival", { timeout: 60_000 }, () => {
  let cluster: MemoryCluster;
  let client: WorClient;

  before(async () => {
    cluster = await MemoryCluster.start();
    client = cluster.client().client;
    await client.createSpace(SMR, { kind: "smr", segmentSize: SEGMENT });
  });
  after(() => cluster.close());

  it("steps down, and sends no heartbeat without a tail", async () => {
    let now = 0;
    const core = new ReplicaCore(
      { ...REPLICA_DEFAULTS, smr: SMR, segmentSize: SEGMENT, id: "a", peers: ["a", "b", "c"], incarnation: "a1", seed: 7, electionTimeoutMs: 100, heartbeatMs: 50, requestTimeoutMs: 1e9, idleReadMs: 1e9 },
      mapMachine,
      now,
    );
    const beats: Extract<PeerMessage, { kind: "heartbeat" }>[] = [];
    /** Outputs until none asks for a step, each after the heartbeat interval. */
    const drive = async () => {
      for (let rounds = 0; rounds < 500; rounds++) {
        now += 1_000;
        core.tick(now);
        const out = core.takeOutputs();
        for (const { msg } of out.sends) if (msg.kind === "heartbeat") beats.push(msg);
        if (out.steps.length === 0) return;
        for (const s of out.steps) {
          assert.ok(isRegisterStep(s.step));
          core.onResult(s.id, await registerStep(client, s.step));
        }
      }
      assert.fail("the replica kept asking for steps");
    };
    await drive();
    assert.equal(core.status().role, "leader");
    // A rival claims every segment past the leader's first two.
    for (let s = 2; s < 8; s++) await client.alloc(SMR, s, bytes(JSON.stringify({ sequencer: "rival", address: "z" })));
    for (let seq = 0; seq < 12 && core.status().role === "leader"; seq++) {
      core.propose(seq, { client: "x", seq, ackedBelow: seq, command: mapMachine.command.encode({ op: "put", key: "k", value: bytes(String(seq)) }) }, now);
      await drive();
    }
    assert.equal(core.status().role, "follower", "the leader stepped down once its claim was lost");
    assert.ok(beats.length > 0);
    assert.deepEqual(beats.filter((b) => !Number.isSafeInteger(b.tail)), [], "a heartbeat without a tail");
  });
});
