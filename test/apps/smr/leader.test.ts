/**
 * A leader whose claim of a next segment is lost to a rival (the rival allocated it first) steps
 * down, and announces nothing in between: one `ReplicaCore` driven step by step over an in-memory
 * cluster, the clock moved past the heartbeat interval before every output, so a heartbeat is due
 * in the very output that follows the lost claim. (Before, the leader still counted as ready there
 * and sent a heartbeat without a tail, which the wire cannot encode: the replica node's flush threw.)
 * And the result that deposes it moves its clock, so it stands again a whole election timeout after
 * that result, not at once (before, a result did not move the clock: the new election deadline
 * counted from the last input before it). A leader that applies slots above the tokens it issued (a
 * rival's recovery sealed its segment with fills, then yielded) steps down too: it has nothing more
 * to write there, and announcing its old tail for ever kept a heal from converging (sim seed 1898,
 * which no longer reaches that schedule).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { FILL_BYTES } from "../../../apps/log/core/entry.ts";
import { mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { type PeerMessage, REPLICA_DEFAULTS } from "../../../apps/smr/core/messages.ts";
import type { Proposal } from "../../../apps/smr/core/records.ts";
import { ReplicaCore } from "../../../apps/smr/core/replica.ts";
import { isRegisterStep } from "../../../wor/core/steps.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { registerStep } from "../../../wor/node/driver.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

const SMR = "rivals";
const SEGMENT = 4;
const ELECTION_TIMEOUT_MS = 100;

function replica(smr: string, now: number): ReplicaCore {
  const config = { ...REPLICA_DEFAULTS, smr, segmentSize: SEGMENT, id: "a", peers: ["a", "b", "c"], incarnation: "a1", seed: 7, electionTimeoutMs: ELECTION_TIMEOUT_MS, heartbeatMs: 50, requestTimeoutMs: 1e9, idleReadMs: 1e9 };
  return new ReplicaCore(config, mapMachine, now);
}

/** Tick `core` a second at a time (`clock.now` moves), answering its register steps through
 *  `client`, until it asks for none; `sent` sees every message it sends meanwhile. */
async function driveUntilIdle(core: ReplicaCore, client: WorClient, clock: { now: number }, sent: (msg: PeerMessage) => void = () => {}): Promise<void> {
  for (let rounds = 0; rounds < 500; rounds++) {
    clock.now += 1_000;
    core.tick(clock.now);
    const out = core.takeOutputs();
    for (const { msg } of out.sends) sent(msg);
    if (out.steps.length === 0) return;
    for (const s of out.steps) {
      assert.ok(isRegisterStep(s.step));
      core.onResult(s.id, await registerStep(client, s.step), clock.now);
    }
  }
  assert.fail("the replica kept asking for steps");
}

const put = (seq: number): Proposal => ({ client: "x", seq, ackedBelow: seq, command: mapMachine.command.encode({ op: "put", key: "k", value: bytes(String(seq)) }) });

describe("an SMR leader outclaimed by a rival", { timeout: 60_000 }, () => {
  let cluster: MemoryCluster;
  let client: WorClient;

  before(async () => {
    cluster = await MemoryCluster.start();
    client = cluster.client().client;
    for (const smr of [SMR, `${SMR}-late`, `${SMR}-overtaken`, `${SMR}-unheard`]) await client.createSpace(smr, { kind: "smr", segmentSize: SEGMENT });
  });
  after(() => cluster.close());

  it("steps down, and sends no heartbeat without a tail", async () => {
    const clock = { now: 0 };
    const core = replica(SMR, clock.now);
    const beats: Extract<PeerMessage, { kind: "heartbeat" }>[] = [];
    const drive = () => driveUntilIdle(core, client, clock, (msg) => msg.kind === "heartbeat" && beats.push(msg));
    await drive();
    assert.equal(core.status().role, "leader");
    // A rival claims every segment past the leader's first two.
    for (let s = 2; s < 8; s++) await client.alloc(SMR, s, bytes(JSON.stringify({ sequencer: "rival", address: "z" })));
    for (let seq = 0; seq < 12 && core.status().role === "leader"; seq++) {
      core.propose(seq, put(seq), clock.now);
      await drive();
    }
    assert.equal(core.status().role, "follower", "the leader stepped down once its claim was lost");
    assert.ok(beats.length > 0);
    assert.deepEqual(beats.filter((b) => !Number.isSafeInteger(b.tail)), [], "a heartbeat without a tail");
  });

  it("deposed by a late result, stands again an election timeout after it, not at once", async () => {
    const smr = `${SMR}-late`;
    let now = 1_000;
    const core = replica(smr, 0);
    /** As the replica node does: outputs taken right after each result, which comes a second after its step (no tick in between). */
    const drive = async () => {
      for (let rounds = 0; rounds < 500; rounds++) {
        const out = core.takeOutputs();
        if (out.steps.length === 0) return;
        for (const s of out.steps) {
          assert.ok(isRegisterStep(s.step));
          const r = await registerStep(client, s.step);
          now += 1_000;
          core.onResult(s.id, r, now);
        }
      }
      assert.fail("the replica kept asking for steps");
    };
    core.tick(now);
    await drive();
    assert.equal(core.status().role, "leader");
    for (let s = 2; s < 8; s++) await client.alloc(smr, s, bytes(JSON.stringify({ sequencer: "rival", address: "z" })));
    for (let seq = 0; seq < 12 && core.status().role === "leader"; seq++) {
      core.propose(seq, put(seq), now);
      await drive();
    }
    assert.equal(core.status().role, "follower", "the leader stepped down once its claim was lost");
    core.tick(now + 1);
    core.takeOutputs();
    assert.equal(core.status().role, "follower", "it stood again at once, its election deadline counted from before that result");
  });

  it("applying slots above the tokens it issued (a rival's recovery filled its segment), steps down", async () => {
    const smr = `${SMR}-overtaken`;
    const clock = { now: 1_000 };
    const core = replica(smr, 0);
    const drive = () => driveUntilIdle(core, client, clock);
    await drive();
    const { role, applied, tail } = core.status();
    assert.equal(role, "leader");
    for (let slot = applied; slot <= tail!; slot++) core.learned(slot, FILL_BYTES);
    await drive();
    assert.equal(core.status().applied, tail! + 1);
    assert.equal(core.status().role, "follower", "the leader applied a slot it never issued and still leads");
  });

  it("reads a slot below its tail that neither a write's result nor its watch told it of, an election timeout later", async () => {
    const smr = `${SMR}-unheard`;
    const clock = { now: 1_000 };
    const core = replica(smr, 0);
    await driveUntilIdle(core, client, clock);
    const { role, applied } = core.status();
    assert.equal(role, "leader");
    // The leader writes a batch, but the write's result never reaches it (the value is in the log).
    core.propose(1, put(1), clock.now);
    let dropped = 0;
    for (let rounds = 0; rounds < 50 && dropped === 0; rounds++) {
      const out = core.takeOutputs();
      for (const s of out.steps) {
        assert.ok(isRegisterStep(s.step));
        const r = await registerStep(client, s.step);
        if (s.step.kind === "write") dropped++;
        else core.onResult(s.id, r, clock.now);
      }
    }
    assert.equal(dropped, 1, "the batch was written");
    core.tick(clock.now + ELECTION_TIMEOUT_MS / 2);
    const early = core.takeOutputs().steps;
    assert.ok(!early.some((s) => s.step.kind === "read"), "no read before an election timeout");
    for (const s of early) core.onResult(s.id, await registerStep(client, s.step as Parameters<typeof registerStep>[1]), clock.now);
    await driveUntilIdle(core, client, clock);
    assert.equal(core.status().applied, applied + 1, "the leader read the slot and applied it");
    assert.equal(core.status().role, "leader");
  });
});
