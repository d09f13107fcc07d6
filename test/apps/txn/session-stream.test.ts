/**
 * WormTX's participant Session stream (apps/txn/node/remote-participants.ts against
 * apps/txn/node/participant-server.ts) over real gRPC, with a participant stand-in that answers when
 * the test says: many prepares and decides in flight on one stream, answered out of order and
 * matched by id; against a bare Participant server that breaks the stream mid-flight, the prepares
 * in flight get unknown votes (never a NO) and the next prepare opens a new stream; and the server
 * keeps the session budget: a coordinator that never reads its replies is closed.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { encodeRecord, type Vote } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest, TxnResult } from "../../../apps/txn/core/steps.ts";
import type { Participant } from "../../../apps/txn/node/participant.ts";
import { startParticipantServer } from "../../../apps/txn/node/participant-server.ts";
import { remoteParticipants } from "../../../apps/txn/node/remote-participants.ts";
import { decodeRequests, encodeReplies } from "../../../apps/txn/wire/codec.ts";
import { type ParticipantHandlers, ParticipantService, makeParticipantClient } from "../../../apps/txn/wire/service.ts";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { delay } from "../../../wor/node/driver.ts";
import { bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";

const SPACE = "bank";
const record = encodeRecord({ participants: ["p0"], deadline: 1, coordinator: "c" });
const prepare = (txn: number): PrepareRequest => ({ space: SPACE, txn, index: 0, record, payload: Uint8Array.of(txn & 0xff) });

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** A participant that holds every prepare until the test answers it, and records the decides. */
function standIn() {
  const held: { readonly txn: number; readonly answer: (r: TxnResult<Vote>) => void }[] = [];
  const decided: string[] = [];
  const participant: Participant = {
    name: "p0",
    prepare: (r) => new Promise((answer) => held.push({ txn: r.txn, answer })),
    commit: async (space, txn) => void decided.push(`${space}/${txn} committed`),
    abort: async (space, txn) => void decided.push(`${space}/${txn} aborted`),
  };
  return { participant, held, decided };
}

describe("the WormTX participant Session stream", { timeout: 60_000 }, () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("carries many prepares and decides in flight on one stream, answered out of order and matched by id", async () => {
    const { participant, held, decided } = standIn();
    const server = await startParticipantServer({ participant, token: "s3cret" });
    closers.push(() => server.close());
    const link = remoteParticipants({ addresses: new Map([["p0", `127.0.0.1:${server.port}`]]), token: "s3cret", prepareTimeoutMs: 20_000 });
    closers.push(() => link.close());

    const n = 100;
    const votes = Array.from({ length: n }, (_, txn) => link.prepare("p0", prepare(txn)));
    await until("every prepare to reach the participant", () => held.length === n);
    // Answer in reverse order: even transactions YES (naming their own payload), odd ones NO.
    for (const h of [...held].reverse()) {
      h.answer({ ok: true, value: h.txn % 2 === 0 ? { kind: "yes", participant: "p0", record, payload: Uint8Array.of(h.txn) } : { kind: "no", participant: "p0" } });
    }
    const results = await Promise.all(votes);
    for (const [txn, r] of results.entries()) {
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.kind, txn % 2 === 0 ? "yes" : "no", `transaction ${txn}`);
      if (r.value.kind === "yes") assert.deepEqual([...r.value.payload], [txn]);
    }
    // A failure travels by id too: the vote is unknown, not a NO.
    const failed = link.prepare("p0", prepare(n));
    await until("the last prepare", () => held.length === n + 1);
    held.at(-1)!.answer({ ok: false, failure: { code: "contended", message: "the vote register is contended" } });
    assert.deepEqual(await failed, { ok: false, failure: { code: "contended", message: "participant p0: the vote register is contended" } });
    // Decides ride the same stream.
    link.notify("p0", SPACE, 0, "committed");
    link.notify("p0", SPACE, 1, "aborted");
    await until("both decides", () => decided.length === 2);
    assert.deepEqual(decided.sort(), ["bank/0 committed", "bank/1 aborted"]);
    assert.equal(link.stream("p0")!.opened, 1, "all on one stream");
  });

  it("a stream broken mid-flight gives unknown votes, and the next prepare opens a new stream", async () => {
    const calls: grpc.ServerDuplexStream<Uint8Array, Uint8Array>[] = [];
    const server = newServer();
    const handlers: ParticipantHandlers = {
      session(call) {
        calls.push(call);
        call.on("data", (bytes: Uint8Array) => {
          const d = decodeRequests(bytes);
          // On the second stream, vote YES on every request at once.
          const yes: Vote = { kind: "yes", participant: "p0", record, payload: new Uint8Array() };
          if (d.ok && calls.length > 1) call.write(encodeReplies(d.value.map((f) => ({ id: f.id, reply: { ok: true, value: yes } }))));
        });
      },
    };
    server.addService(ParticipantService, handlers);
    const port = await bindServer(server, {});
    closers.push(() => shutdownServer(server));
    const link = remoteParticipants({ addresses: new Map([["p0", `127.0.0.1:${port}`]]), prepareTimeoutMs: 20_000 });
    closers.push(() => link.close());

    const inFlight = [link.prepare("p0", prepare(1)), link.prepare("p0", prepare(2))];
    await until("the stream to open", () => calls.length === 1);
    await delay(50);
    calls[0]!.emit("error", statusError(grpc.status.UNAVAILABLE, "the participant went away"));
    for (const r of await Promise.all(inFlight)) assert.deepEqual(r, { ok: false, failure: { code: "unavailable", message: "participant p0: the participant went away" } }, "an unknown vote, not a NO");
    assert.equal(link.stream("p0")!.opened, 1);

    const next = await link.prepare("p0", prepare(3));
    assert.ok(next.ok && next.value.kind === "yes", JSON.stringify(next));
    assert.equal(link.stream("p0")!.opened, 2, "the next prepare opened a new stream");
    assert.equal(calls.length, 2);
  });

  it("closes a session that never reads its replies (the session budget)", async () => {
    const server = await startParticipantServer({ participant: standIn().participant, budget: { sessionBytesMax: 16 << 10, allSessionsBytesMax: 64 << 10, backedUpMsMax: 500 } });
    closers.push(() => server.close());
    const stub = new makeParticipantClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    closers.push(() => stub.close());
    const call = stub.session();
    call.pause();
    call.read(0);
    const closed = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    // Unreadable envelopes: each is answered with a failure of id 0, without the participant.
    const pump = setInterval(() => {
      for (let k = 0; k < 8 && call.writableLength < 16; k++) call.write(Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    }, 1);
    closers.push(() => clearInterval(pump));
    const error = await Promise.race([closed, sleep(10_000, undefined, { ref: false })]);
    assert.ok(error, "the stalled session was not closed within 10 s");
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
  });
});
