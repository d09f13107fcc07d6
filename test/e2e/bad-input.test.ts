/**
 * The gateway over the wire (docs/ARCHITECTURE.md §7.5): a raw session stream to a real `worm node` sends
 * garbage bytes, an oversize value, an unknown space, an invalid space name and an invalid ballot.
 * Each gets a clear error frame, the stream stays open, and the node keeps serving a normal client.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { LIMITS } from "../../paxos/limits.ts";
import type { Reply } from "../../paxos/messages.ts";
import { decodeServerFrames, encodeClientFrames } from "../../wor/wire/codec.ts";
import type { ClientFrame, ServerFrame } from "../../wor/core/frames.ts";
import { makeAcceptorClient } from "../../wor/wire/service.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { Procs, client, startNode, tempDir, text } from "./harness.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

test("garbage, oversize, unknown-space and invalid-ballot frames get error frames; the node keeps serving", async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const node = await startNode(procs, { id: 1, dataDir: join(dir, "a1"), clusterId: "raw" });
  const address = `127.0.0.1:${node.port}`;

  const raw = new makeAcceptorClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  t.after(() => raw.close());
  const call = raw.session();
  t.after(() => call.cancel());
  const received: ServerFrame[] = [];
  const undecodable: string[] = [];
  let notify = () => {};
  call.on("data", (bytes: Uint8Array) => {
    const d = decodeServerFrames(bytes);
    if (d.ok) received.push(...d.value);
    else undecodable.push(d.error.message);
    notify();
  });
  call.on("error", () => {});
  const replyTo = (id: number, timeoutMs = 10_000): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to frame ${id}; got ${JSON.stringify(received.map((f) => f.id))}`)), timeoutMs);
      const check = () => {
        const f = received.find((x) => x.kind === "reply" && x.id === id);
        if (f && f.kind === "reply") {
          clearTimeout(timer);
          resolve(f.reply);
        }
      };
      const prev = notify;
      notify = () => {
        prev();
        check();
      };
      check();
    });
  const send = (frames: ClientFrame[]) => call.write(encodeClientFrames(frames));

  send([{ id: 1, kind: "request", request: { kind: "createSpace", space: "raw" } }]);
  assert.equal((await replyTo(1)).kind, "spaceCreated");

  // 1. Bytes that are no envelope at all: answered on frame id 0.
  call.write(Uint8Array.from([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03]));
  const garbage = await replyTo(0);
  assert.equal(garbage.kind, "error");
  if (garbage.kind === "error") {
    assert.equal(garbage.code, "invalid");
    assert.match(garbage.message, /envelope|field|frame/i);
  }

  // 2. A value one byte over the limit.
  const big = new Uint8Array(LIMITS.valueBytesMax + 1);
  send([{ id: 2, kind: "request", request: { kind: "accept", space: "raw", ballot: { round: 1, proposer: 9 }, entries: [{ index: 0, value: big }] } }]);
  const oversize = await replyTo(2);
  assert.equal(oversize.kind, "error");
  if (oversize.kind === "error") {
    assert.equal(oversize.code, "tooLarge");
    assert.match(oversize.message, new RegExp(`${LIMITS.valueBytesMax + 1} bytes exceeds ${LIMITS.valueBytesMax}`));
  }

  // 3. A space that does not exist, and 4. a space name that cannot exist.
  send([
    { id: 3, kind: "request", request: { kind: "read", space: "nosuch", from: 0, to: 1 } },
    { id: 4, kind: "request", request: { kind: "read", space: "no/such", from: 0, to: 1 } },
  ]);
  const unknown = await replyTo(3);
  assert.ok(unknown.kind === "error" && unknown.code === "unknownSpace" && /nosuch/.test(unknown.message), JSON.stringify(unknown));
  const badName = await replyTo(4);
  assert.ok(badName.kind === "error" && badName.code === "invalid" && /invalid space name/.test(badName.message), JSON.stringify(badName));

  // 5. Invalid ballots: round 0 belongs to the owner ballot (proposer 0) alone.
  send([
    { id: 5, kind: "request", request: { kind: "prepare", space: "raw", from: 0, to: 1, ballot: { round: 0, proposer: 5 } } },
    { id: 6, kind: "request", request: { kind: "accept", space: "raw", ballot: { round: 3, proposer: 0 }, entries: [{ index: 0, value: text("x") }] } },
  ]);
  for (const id of [5, 6]) {
    const r = await replyTo(id);
    assert.ok(r.kind === "error" && r.code === "invalid" && /invalid ballot/.test(r.message), JSON.stringify(r));
  }

  // The same stream still serves, and none of it changed any state.
  send([{ id: 7, kind: "request", request: { kind: "read", space: "raw", from: 0, to: 1 } }]);
  const states = await replyTo(7);
  assert.equal(states.kind, "states");
  if (states.kind === "states") assert.deepEqual(states.addresses.filter((a) => a.accepted), [], "nothing was accepted");
  assert.deepEqual(undecodable, [], "every server envelope decodes");

  // A normal client is served as before.
  const c = client(t, [address], { cache: false, proposerId: 3 });
  const cap = await c.capture("raw", 0);
  assert.equal(cap._tag, "Captured");
  if (cap._tag === "Captured") assert.equal((await c.write(cap.capture, 0, text("fine")))._tag, "Ok");
  const r = await c.read("raw", 0);
  assert.ok(r._tag === "Written" && bytesEqual(r.value, text("fine")));
  assert.ok(node.proc.running, "the node is still up");
});
