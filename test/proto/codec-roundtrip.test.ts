import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeClientFrames, decodeInspectReply, decodeInspectRequest, decodeServerFrames, decodeStatus, decodeStatusRequest, encodeClientFrames, encodeInspectReply, encodeInspectRequest, encodeServerFrames, encodeStatus, encodeStatusRequest } from "../../wor/wire/codec.ts";
import * as arb from "./arbitraries.ts";

describe("codec round trips", () => {
  it("client frames of every kind decode to what was encoded", () => {
    fc.assert(
      fc.property(fc.array(arb.clientFrame(), { maxLength: 12 }), (frames) => {
        assert.deepStrictEqual(decodeClientFrames(encodeClientFrames(frames)), { ok: true, value: frames });
      }),
      { numRuns: 400 },
    );
  });

  it("envelopes share one writer but never its bytes: each stays what it was, even after an encode that threw", () => {
    fc.assert(
      fc.property(fc.array(fc.array(arb.serverFrame(), { maxLength: 4 }), { minLength: 2, maxLength: 6 }), (batches) => {
        const encoded = batches.map((frames) => encodeServerFrames(frames));
        const copies = encoded.map((e) => Uint8Array.from(e));
        assert.throws(() => encodeServerFrames([{ id: 1, kind: "learned", space: "s", index: 0, ballot: { round: 1, proposer: 1 }, value: "not bytes" as unknown as Uint8Array }]));
        assert.deepStrictEqual(encoded, copies, "a later encode changed an earlier envelope");
        for (const frames of batches) assert.deepStrictEqual(decodeServerFrames(encodeServerFrames(frames)), { ok: true, value: frames });
      }),
      { numRuns: 200 },
    );
  });

  it("server frames of every kind decode to what was encoded", () => {
    fc.assert(
      fc.property(fc.array(arb.serverFrame(), { maxLength: 12 }), (frames) => {
        assert.deepStrictEqual(decodeServerFrames(encodeServerFrames(frames)), { ok: true, value: frames });
      }),
      { numRuns: 400 },
    );
  });

  it("admin messages round-trip", () => {
    fc.assert(
      fc.property(arb.status(), arb.inspectRequest(), arb.inspectReply(), (s, q, r) => {
        assert.deepStrictEqual(decodeStatus(encodeStatus(s)), { ok: true, value: s });
        assert.deepStrictEqual(decodeInspectRequest(encodeInspectRequest(q)), { ok: true, value: q });
        assert.deepStrictEqual(decodeInspectReply(encodeInspectReply(r)), { ok: true, value: r });
      }),
    );
    assert.deepStrictEqual(decodeStatusRequest(encodeStatusRequest()), { ok: true, value: {} });
  });

  it("the empty envelope is valid and empty", () => {
    assert.equal(encodeClientFrames([]).byteLength, 0);
    assert.deepStrictEqual(decodeClientFrames(new Uint8Array()), { ok: true, value: [] });
    assert.deepStrictEqual(decodeServerFrames(new Uint8Array()), { ok: true, value: [] });
  });

  it("values are byte-exact fresh Uint8Arrays, not views of a reused gRPC buffer", () => {
    const value = new Uint8Array([0, 1, 2, 255, 128, 0]);
    const bytes = encodeServerFrames([
      { id: 9, kind: "learned", space: "log", index: 4, ballot: { round: 1, proposer: 2 }, value },
      { id: 10, kind: "reply", reply: { kind: "voted", ballot: { round: 2, proposer: 1 }, refused: [{ index: 3, promised: { round: 5, proposer: 5 }, trimmed: false, chosen: value }] } },
    ]);
    const buffer = Buffer.from(bytes); // as grpc-js delivers it
    const decoded = decodeServerFrames(buffer);
    buffer.fill(0xaa);
    assert.ok(decoded.ok);
    const learned = decoded.value[0]!;
    assert.ok(learned.kind === "learned");
    assert.equal(Object.getPrototypeOf(learned.value), Uint8Array.prototype);
    assert.deepStrictEqual(learned.value, value);
    const voted = decoded.value[1]!;
    assert.ok(voted.kind === "reply" && voted.reply.kind === "voted");
    assert.deepStrictEqual(voted.reply.refused[0]!.chosen, value);

    const request = Buffer.from(
      encodeClientFrames([{ id: 1, kind: "request", request: { kind: "accept", space: "s", ballot: { round: 1, proposer: 1 }, entries: [{ index: 0, value }] } }]),
    );
    const req = decodeClientFrames(request);
    request.fill(0);
    assert.ok(req.ok);
    const f = req.value[0]!;
    assert.ok(f.kind === "request" && f.request.kind === "accept");
    assert.equal(Object.getPrototypeOf(f.request.entries[0]!.value), Uint8Array.prototype);
    assert.deepStrictEqual(f.request.entries[0]!.value, value);
  });

  it("an empty value and an absent chosen value stay distinct", () => {
    const refused = [
      { index: 1, promised: { round: 1, proposer: 1 }, trimmed: false, chosen: new Uint8Array() },
      { index: 2, promised: { round: 1, proposer: 1 }, trimmed: true },
    ];
    const d = decodeServerFrames(encodeServerFrames([{ id: 1, kind: "reply", reply: { kind: "voted", ballot: { round: 1, proposer: 1 }, refused } }]));
    assert.ok(d.ok);
    const r = d.value[0]!;
    assert.ok(r.kind === "reply" && r.reply.kind === "voted");
    assert.deepStrictEqual(r.reply.refused[0]!.chosen, new Uint8Array());
    assert.equal("chosen" in r.reply.refused[1]!, false);
  });
});
