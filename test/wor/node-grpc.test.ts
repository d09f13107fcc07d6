import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { decodeInspectReply, decodeServerFrames, decodeStatus, encodeClientFrames, encodeInspectRequest, encodeServerFrames, encodeStatusRequest } from "../../wor/wire/codec.ts";
import type { ClientFrame, ServerFrame } from "../../wor/core/frames.ts";
import { type AcceptorClient, makeAcceptorClient } from "../../wor/wire/service.ts";
import { AcceptorNode } from "../../wor/node/acceptor-node.ts";
import { type AcceptorServer, type ServerTls, startAcceptorServer } from "../../wor/node/grpc-server.ts";
import { serverFrameBytes } from "../../wor/node/reply-writer.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "wor-node-grpc-"));
  dirs.push(d);
  return d;
}

async function start(opts: { token?: string; tls?: ServerTls } = {}): Promise<{ server: AcceptorServer; node: AcceptorNode }> {
  const storage = await LevelStorage.open(await tempDir());
  const node = await AcceptorNode.open({ storage, identity: { clusterId: "g", acceptorId: 4 }, init: true, checkInvariants: true });
  const server = await startAcceptorServer({ node, ...opts });
  return { server, node };
}

/** A raw session: send frames, await the frames answering them. */
function session(client: AcceptorClient, md = new grpc.Metadata()) {
  const call = client.session(md);
  const received: ServerFrame[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let error: grpc.ServiceError | undefined;
  call.on("data", (bytes: Uint8Array) => {
    const d = decodeServerFrames(bytes);
    assert.ok(d.ok, "server sent a malformed envelope");
    received.push(...d.value);
    for (const w of waiters.splice(0)) if (received.length >= w.count) w.resolve();
    else waiters.push(w);
  });
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on("error", (e: grpc.ServiceError) => {
      error = e;
      resolve(e);
    });
    call.on("end", () => resolve(error));
  });
  return {
    call,
    received,
    ended,
    send(frames: ClientFrame[]) {
      call.write(encodeClientFrames(frames));
    },
    until(count: number): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}

const client = (port: number, creds = grpc.credentials.createInsecure(), extra: Partial<grpc.ChannelOptions> = {}) =>
  new makeAcceptorClient(`127.0.0.1:${port}`, creds, { ...CHANNEL_OPTIONS, ...extra });

function unary(c: AcceptorClient, method: "status" | "inspect", bytes: Uint8Array, md = new grpc.Metadata()): Promise<Uint8Array> {
  return new Promise((resolve, reject) => c[method](bytes, md, (err, value) => (err ? reject(err) : resolve(value!))));
}

const b = (round: number, proposer: number) => ({ round, proposer });
const kinds = (frames: readonly ServerFrame[]) => frames.map((f) => `${f.id}:${f.kind === "reply" ? f.reply.kind : `${f.kind}@${f.index}`}`);

describe("acceptor gRPC server", () => {
  test("prepare / accept / commit / read over one session; watch pushes; Status and Inspect", async () => {
    const { server } = await start();
    const c = client(server.port);
    const s = session(c);
    s.send([{ id: 1, kind: "request", request: { kind: "createSpace", space: "log" } }]);
    await s.until(1);
    const value = new Uint8Array([0, 9, 0, 255]);
    s.send([
      { id: 2, kind: "watch", space: "log", from: 0 },
      { id: 3, kind: "request", request: { kind: "prepare", space: "log", from: 0, to: 64, ballot: b(1, 2) } },
      { id: 4, kind: "request", request: { kind: "accept", space: "log", ballot: b(1, 2), entries: [{ index: 5, value }] } },
      { id: 5, kind: "request", request: { kind: "commit", space: "log", ballot: b(1, 2), indexes: [5] } },
      { id: 6, kind: "request", request: { kind: "read", space: "log", from: 0, to: 64 } },
    ]);
    await s.until(7);
    assert.deepEqual(kinds(s.received), ["1:spaceCreated", "3:promise", "4:voted", "2:accepted@5", "5:committed", "2:learned@5", "6:states"]);
    // The watch was pushed the value as accepted, so the commit comes without it (wor/node/node-replies.ts).
    const learned = s.received[5];
    assert.ok(learned?.kind === "learned");
    assert.deepEqual([learned.ballot, learned.value], [b(1, 2), undefined]);
    const read = s.received[6];
    assert.ok(read?.kind === "reply" && read.reply.kind === "states");
    assert.deepEqual(read.reply.addresses[0]?.accepted?.value, value);
    assert.equal(read.reply.addresses[0]?.committed, true);

    const status = decodeStatus(await unary(c, "status", encodeStatusRequest()));
    assert.ok(status.ok);
    assert.equal(status.value.acceptorId, 4);
    assert.deepEqual(status.value.spaces.find((x) => x.name === "log")?.highestAccepted, 5);
    const ins = decodeInspectReply(await unary(c, "inspect", encodeInspectRequest({ space: "log", from: 0, to: 10 })));
    assert.ok(ins.ok);
    assert.deepEqual(ins.value.addresses.map((a) => a.index), [5]);
    await assert.rejects(unary(c, "inspect", encodeInspectRequest({ space: "nope", from: 0, to: 10 })), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);

    s.call.end();
    assert.equal(await s.ended, undefined, "the server ends the session cleanly after a half-close");
    c.close();
    await server.close();
  });

  test("a malformed envelope gets an error frame (id 0) and the session keeps serving", async () => {
    const { server } = await start();
    const c = client(server.port);
    const s = session(c);
    s.call.write(new Uint8Array([0xff, 0xff, 0xff]));
    await s.until(1);
    const bad = s.received[0];
    assert.ok(bad?.kind === "reply" && bad.reply.kind === "error");
    assert.equal(bad.id, 0);
    assert.equal(bad.reply.code, "invalid");
    s.send([{ id: 7, kind: "request", request: { kind: "createSpace", space: "x" } }]);
    await s.until(2);
    assert.deepEqual(kinds(s.received), ["0:error", "7:spaceCreated"]);
    s.call.end();
    await s.ended;
    c.close();
    await server.close();
  });

  test("with a token, calls without `authorization: Bearer <token>` are UNAUTHENTICATED", async () => {
    const token = "correct-horse-battery-staple";
    const { server } = await start({ token });
    const c = client(server.port);
    const s = session(c);
    s.send([{ id: 1, kind: "request", request: { kind: "createSpace", space: "x" } }]);
    const err = await s.ended;
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(s.received.length, 0);
    await assert.rejects(unary(c, "status", encodeStatusRequest()), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    const wrong = new grpc.Metadata();
    wrong.set("authorization", "Bearer nope");
    await assert.rejects(unary(c, "status", encodeStatusRequest(), wrong), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);

    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    assert.ok(decodeStatus(await unary(c, "status", encodeStatusRequest(), md)).ok);
    const ok = session(c, md);
    ok.send([{ id: 1, kind: "request", request: { kind: "createSpace", space: "x" } }]);
    await ok.until(1);
    assert.deepEqual(kinds(ok.received), ["1:spaceCreated"]);
    ok.call.end();
    await ok.ended;
    c.close();
    await server.close();
  });

  test("close ends open sessions and closes the storage", async () => {
    const { server, node } = await start();
    const c = client(server.port);
    const s = session(c);
    s.send([{ id: 1, kind: "request", request: { kind: "createSpace", space: "x" } }]);
    await s.until(1);
    await server.close();
    await s.ended;
    assert.equal(node.ready, false);
    c.close();
  });

  test("the frame size estimate is at least the encoded size", () => {
    const value = new Uint8Array(1000);
    const addr = { index: 2 ** 40, promised: b(2 ** 50, 2 ** 50), accepted: { ballot: b(2 ** 50, 3), value }, committed: true };
    const frames: ServerFrame[] = [
      { id: 2 ** 50, kind: "learned", space: "a-space-name", index: 2 ** 52, ballot: b(2 ** 50, 2 ** 50), value },
      { id: 2 ** 50, kind: "learned", space: "a-space-name", index: 2 ** 52, ballot: b(2 ** 50, 2 ** 50), value: undefined },
      { id: 2 ** 50, kind: "accepted", space: "a-space-name", index: 2 ** 52, ballot: b(2 ** 50, 2 ** 50), value },
      { id: 1, kind: "reply", reply: { kind: "states", trimMark: 2 ** 40, addresses: [addr, addr], ranges: [{ from: 1, to: 2 ** 50, ballot: b(2 ** 50, 2 ** 50) }] } },
      { id: 1, kind: "reply", reply: { kind: "promise", ballot: b(2 ** 50, 1), accepted: [addr] } },
      { id: 1, kind: "reply", reply: { kind: "voted", ballot: b(2 ** 50, 1), refused: [{ index: 2 ** 50, promised: b(2 ** 50, 2 ** 50), trimmed: true, chosen: value }] } },
      { id: 1, kind: "reply", reply: { kind: "error", code: "invalid", message: "ünïcödé message" } },
      { id: 2 ** 50, kind: "reply", reply: { kind: "prepareRejected", promised: b(2 ** 50, 2 ** 50) } },
    ];
    for (const f of frames) assert.ok(serverFrameBytes(f) >= encodeServerFrames([f]).byteLength, `estimate too small for ${kinds([f])}`);
  });

  test("mutual TLS: a client without a certificate is refused, one with a certificate served", async (t) => {
    const dir = await tempDir();
    try {
      makeCerts(dir);
    } catch {
      t.skip("openssl is not available");
      return;
    }
    const pem = (name: string) => readFile(join(dir, name));
    const [ca, key, cert, ckey, ccert] = await Promise.all(["ca.pem", "server.key", "server.pem", "client.key", "client.pem"].map(pem));
    const { server } = await start({ tls: { key: key!, cert: cert!, ca: ca!, requireClientCert: true } });
    const name = { "grpc.ssl_target_name_override": "localhost" };
    const good = client(server.port, grpc.credentials.createSsl(ca!, ckey!, ccert!), name);
    assert.ok(decodeStatus(await unary(good, "status", encodeStatusRequest())).ok);
    const anonymous = client(server.port, grpc.credentials.createSsl(ca!), name);
    await assert.rejects(unary(anonymous, "status", encodeStatusRequest()), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    good.close();
    anonymous.close();
    await server.close();
  });
});

/** A throwaway CA, a server certificate for localhost and a client certificate, via openssl. */
function makeCerts(dir: string): void {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=wor-test-ca");
  for (const who of ["server", "client"]) {
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", `/CN=${who === "server" ? "localhost" : "wor-client"}`);
    writeFileSync(join(dir, `${who}.ext`), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    run("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${who}.pem`, "-days", "1", "-extfile", `${who}.ext`);
  }
}
