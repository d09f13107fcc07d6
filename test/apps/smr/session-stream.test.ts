/**
 * The SMR client's Session stream (apps/smr/node/replica-stream.ts) against the replica's server
 * (apps/smr/node/server.ts) over real gRPC, with a replica stand-in that answers when the test says:
 * many requests in flight on one stream, answered out of order and matched by id; and, against a
 * bare Session server that breaks the stream mid-flight, the requests in flight fail (a proposal's
 * outcome unknown, a read unavailable) and the next request opens a new stream. The replica's server
 * keeps the acceptor's session budget: a client that never reads its replies is closed. Clients
 * sharing channels (apps/smr/node/smr-channels.ts) share one stream per replica, each with its keys.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import type { Machine } from "../../../apps/smr/core/machine.ts";
import type { SmrReply } from "../../../apps/smr/core/messages.ts";
import { type Proposal, SMR_LIMITS } from "../../../apps/smr/core/records.ts";
import { ReplicaStream } from "../../../apps/smr/node/replica-stream.ts";
import type { ReplicaNode } from "../../../apps/smr/node/replica-node.ts";
import { type SmrServer, startSmrServer } from "../../../apps/smr/node/server.ts";
import { SmrChannels } from "../../../apps/smr/node/smr-channels.ts";
import { SmrClient } from "../../../apps/smr/node/smr-client.ts";
import { type SmrReplyFrame, decodeRequests, encodeReplies, replyFrameBytes } from "../../../apps/smr/wire/codec.ts";
import { type SmrHandlers, SmrService, makeSmrClient } from "../../../apps/smr/wire/service.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { delay } from "../../../wor/node/driver.ts";
import { bindServer, newServer, shutdownServer, statusError } from "../../../wor/node/grpc-serving.ts";

const SMR = "orders";
const enc = new TextEncoder();
const dec = new TextDecoder();
const textCodec = { encode: (s: string) => enc.encode(s), decode: (b: Uint8Array) => dec.decode(b) };
/** Commands, results, queries and answers are strings; the stand-in never applies anything. */
const textMachine = { command: textCodec, result: textCodec, query: textCodec, answer: textCodec } as unknown as Machine<string, string, string, string>;

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** A replica that holds every request until the test answers it. */
function standIn() {
  const held: { readonly what: string; readonly answer: (r: SmrReply) => void }[] = [];
  const hold = (what: string) => new Promise<SmrReply>((answer) => held.push({ what, answer }));
  const node = {
    propose: (p: Proposal) => hold(`propose ${dec.decode(p.command)} by ${p.client}#${p.seq}`),
    read: (q: Uint8Array, stale: boolean) => hold(`read ${dec.decode(q)}${stale ? " stale" : ""}`),
  } as unknown as ReplicaNode;
  return { node, held };
}

describe("the SMR Session stream", { timeout: 60_000 }, () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("carries many requests in flight on one stream, answered out of order and matched by id", async () => {
    const { node, held } = standIn();
    const server: SmrServer = await startSmrServer({ node, smr: SMR, port: 0 });
    closers.push(() => server.close());
    const client = new SmrClient(textMachine, { smr: SMR, replicas: [`127.0.0.1:${server.port}`], attemptTimeoutMs: 20_000, timeoutMs: 30_000 });
    closers.push(() => client.close());

    const n = 100;
    const proposals = Array.from({ length: n }, (_, i) => client.propose(`c${i}`));
    const reads = Array.from({ length: n }, (_, i) => client.read(`q${i}`, { stale: i % 2 === 1 }));
    await until("every request to reach the replica", () => held.length === 2 * n);
    // Answer in reverse order, each with what it asked for.
    for (const [k, h] of [...held].reverse().entries()) h.answer({ ok: true, value: enc.encode(`answer to ${h.what}`), position: k });
    const results = await Promise.all(proposals);
    const answers = await Promise.all(reads);
    for (let i = 0; i < n; i++) {
      assert.equal(results[i]!.result, `answer to propose c${i} by ${client.clientId}#${i}`);
      assert.equal(answers[i]!.answer, `answer to read q${i}${i % 2 === 1 ? " stale" : ""}`);
    }
    assert.equal(client.streams[0]!.opened, 1, "all on one stream");
    assert.match(client.clientId, /^[\w-]{16}$/, "a short default client id: every command in the log carries it");
    // A failure travels by id too.
    const refused = client.propose("big");
    await until("the last request", () => held.length === 2 * n + 1);
    held.at(-1)!.answer({ ok: false, code: "tooLarge", message: "command too large" });
    await assert.rejects(refused, { name: "SmrError", code: "tooLarge" });
    // A command too large is refused without reaching the replica, and the stream stays.
    await assert.rejects(client.propose("x".repeat(SMR_LIMITS.commandBytesMax + 1)), { name: "SmrError", code: "tooLarge" });
    assert.equal(held.length, 2 * n + 1);
    assert.equal(client.streams[0]!.opened, 1);
  });

  it("clients sharing channels share one stream per replica, each proposing with its own keys", async () => {
    const { node, held } = standIn();
    const server: SmrServer = await startSmrServer({ node, smr: SMR, port: 0 });
    closers.push(() => server.close());
    const channels = new SmrChannels();
    closers.push(() => channels.close());
    const replicas = [`127.0.0.1:${server.port}`];
    const [a, b] = ["a", "b"].map((clientId) => new SmrClient(textMachine, { smr: SMR, replicas, clientId, attemptTimeoutMs: 20_000, timeoutMs: 30_000, channels }));
    const both = [a!.propose("x"), b!.propose("y"), a!.propose("z")];
    await until("the three proposals to reach the replica", () => held.length === 3);
    assert.deepEqual(held.map((h) => h.what).sort(), ["propose x by a#0", "propose y by b#0", "propose z by a#1"]);
    for (const h of held) h.answer({ ok: true, value: enc.encode(`done ${h.what}`), position: 1 });
    assert.deepEqual((await Promise.all(both)).map((r) => r.result), ["done propose x by a#0", "done propose y by b#0", "done propose z by a#1"]);
    assert.equal(a!.streams[0], b!.streams[0], "one stream for both clients");
    assert.equal(a!.streams[0]!.opened, 1);
    // A client closing leaves the shared channels open for the others.
    a!.close();
    const later = b!.propose("w");
    await until("the next proposal", () => held.length === 4);
    held[3]!.answer({ ok: true, value: enc.encode("w done"), position: 2 });
    assert.equal((await later).result, "w done");
    assert.equal(b!.streams[0]!.opened, 1);
  });

  it("a stream broken mid-flight fails the requests on it, and the next request opens a new stream", async () => {
    const calls: grpc.ServerDuplexStream<Uint8Array, Uint8Array>[] = [];
    const server = newServer();
    const handlers = {
      session(call) {
        calls.push(call);
        call.on("data", (bytes: Uint8Array) => {
          const d = decodeRequests(bytes);
          // On the second stream, answer every request at once.
          if (d.ok && calls.length > 1) call.write(encodeReplies(d.value.map((f) => ({ id: f.id, reply: { ok: true, value: enc.encode("ok"), position: 1 } }))));
        });
      },
    } as SmrHandlers;
    server.addService(SmrService, handlers);
    const port = await bindServer(server, {});
    closers.push(() => shutdownServer(server));
    const stub = new makeSmrClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    closers.push(() => stub.close());
    const stream = new ReplicaStream(stub, () => new grpc.Metadata());
    closers.push(() => stream.close());

    const proposal = { client: "t", seq: 1, ackedBelow: 1, command: enc.encode("c") };
    const inFlight = [
      stream.request({ smr: SMR, kind: "propose", proposal }, 20_000),
      stream.request({ smr: SMR, kind: "read", query: enc.encode("q"), stale: false }, 20_000),
    ];
    await until("the stream to open", () => calls.length === 1);
    await delay(50);
    calls[0]!.emit("error", statusError(grpc.status.UNAVAILABLE, "the replica went away"));
    const [p, r] = await Promise.all(inFlight);
    assert.deepEqual(p, { ok: false, code: "timeout", message: "the replica went away" }, "a proposal cut off: its outcome is unknown");
    assert.deepEqual(r, { ok: false, code: "unavailable", message: "the replica went away" });
    assert.equal(stream.opened, 1);

    const next = await stream.request({ smr: SMR, kind: "propose", proposal }, 20_000);
    assert.equal(next.ok, true);
    assert.equal(stream.opened, 2, "the next request opened a new stream");
    assert.equal(calls.length, 2);
  });

  it("closes a session that never reads its replies (the session budget)", async () => {
    const server = await startSmrServer({ node: standIn().node, smr: SMR, port: 0, budget: { sessionBytesMax: 16 << 10, allSessionsBytesMax: 64 << 10, backedUpMsMax: 500 } });
    closers.push(() => server.close());
    const stub = new makeSmrClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    closers.push(() => stub.close());
    const call = stub.session();
    call.pause();
    call.read(0);
    const closed = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    // Unreadable envelopes: each is answered with a failure of id 0, without the replica.
    const pump = setInterval(() => {
      for (let k = 0; k < 8 && call.writableLength < 16; k++) call.write(Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    }, 1);
    closers.push(() => clearInterval(pump));
    const error = await Promise.race([closed, sleep(10_000, undefined, { ref: false })]);
    assert.ok(error, "the stalled session was not closed within 10 s");
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it("estimates a reply at no less than its encoded size", () => {
    const frames: SmrReplyFrame[] = [
      { id: 2 ** 50, reply: { ok: true, value: new Uint8Array(300), position: 2 ** 51 } },
      { id: 1, reply: { ok: false, code: "unavailable", message: "ünïcödé: a failure message" } },
    ];
    for (const f of frames) assert.ok(replyFrameBytes(f) >= encodeReplies([f]).byteLength, JSON.stringify(f));
  });
});
