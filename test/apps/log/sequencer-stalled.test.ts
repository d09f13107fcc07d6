/**
 * The sequencer's server under the session budget it shares with the acceptor's
 * (wor/node/session-budget.ts): an appender session that keeps sending and never reads its replies
 * is closed with RESOURCE_EXHAUSTED once it stays backed up past the deadline, and the budget counts
 * grant replies by an estimate no smaller than their encoding.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { grantReplyBytes, startSequencerServer } from "../../../apps/log/node/sequencer-server.ts";
import { encodeGrantReplies } from "../../../apps/log/wire/codec.ts";
import type { GrantReplyFrame } from "../../../apps/log/wire/frames.ts";
import { makeSequencerClient } from "../../../apps/log/wire/service.ts";
import { MemoryCluster } from "../../wor/memory-cluster.ts";

describe("sequencer server session budget", () => {
  it("closes an appender session that never reads its replies", { timeout: 30_000 }, async (t) => {
    const cluster = await MemoryCluster.start();
    t.after(() => cluster.close());
    const sequencer = new SequencerNode({ client: cluster.client().client, owner: "seq-stalled" });
    t.after(() => sequencer.close());
    const budget = { sessionBytesMax: 16 << 10, allSessionsBytesMax: 64 << 10, backedUpMsMax: 500 };
    const server = await startSequencerServer({ sequencer, port: 0, budget });
    t.after(() => server.close());
    const c = new makeSequencerClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    t.after(() => c.close());

    const call = c.session();
    call.pause();
    call.read(0);
    const closed = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    // Unreadable envelopes: each is answered with a failure of id 0, without the sequencer.
    const pump = setInterval(() => {
      for (let k = 0; k < 8 && call.writableLength < 16; k++) call.write(Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    }, 1);
    t.after(() => clearInterval(pump));
    const error = await Promise.race([closed, sleep(10_000, undefined, { ref: false })]);
    assert.ok(error, "the stalled appender session was not closed within 10 s");
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it("estimates a grant reply at no less than its encoded size", () => {
    const capture = { space: "orders-with-a-long-name", ballot: { round: 2 ** 40, proposer: 2 ** 47 }, from: 2 ** 50, to: 2 ** 51 };
    const token = { slot: 2 ** 50, capture, prev: [2 ** 50, 2 ** 51], priors: [2 ** 50, 2 ** 51] };
    const frames: GrantReplyFrame[] = [
      { id: 2 ** 50, result: { ok: true, value: { tokens: [token, token], tail: 2 ** 51, streamTails: [2 ** 50, 2 ** 50] } } },
      { id: 1, result: { ok: false, failure: { code: "invalid", message: "ünïcödé: a failure message" } } },
    ];
    for (const f of frames) assert.ok(grantReplyBytes(f) >= encodeGrantReplies([f]).byteLength, JSON.stringify(f));
  });
});
