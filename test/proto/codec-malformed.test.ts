import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { LIMITS, isSpaceName } from "../../paxos/limits.ts";
import type { ClientFrame, CodecError, Decoded, ServerFrame } from "../../wor/wire/codec.ts";
import { decodeClientFrames, decodeInspectReply, decodeInspectRequest, decodeServerFrames, decodeStatus, encodeClientFrames, encodeServerFrames } from "../../wor/wire/codec.ts";
import * as pb from "../../proto/gen/wormspace/v1/acceptor.ts";
import * as arb from "./arbitraries.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";

const TWO_53 = 2n ** 53n;

function isCodecError(e: unknown, code?: CodecError["code"]): boolean {
  const c = e as CodecError;
  return c?._tag === "CodecError" && typeof c.message === "string" && (code === undefined || c.code === code);
}

function expectError<T>(d: Decoded<T>, code: CodecError["code"]): void {
  assert.equal(d.ok, false, "expected a CodecError");
  if (!d.ok) assert.ok(isCodecError(d.error, code), `expected ${code}, got ${JSON.stringify(d.error)}`);
}

/** An envelope of raw frame bodies (field 1, length-delimited). */
function envelope(...frames: Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  for (const f of frames) w.uint32(10).bytes(f);
  return w.finish();
}

const frame = (f: pb.ClientFrame): Uint8Array => pb.ClientFrame.encode(f).finish();
const B = { round: 1, proposer: 1 };

/** The single decoded client frame of a one-frame envelope. */
function only(bytes: Uint8Array) {
  const d = decodeClientFrames(bytes);
  assert.ok(d.ok, `envelope should parse: ${JSON.stringify(d)}`);
  assert.equal(d.value.length, 1);
  return d.value[0]!;
}

function expectInvalidFrame(bytes: Uint8Array, id: number, code: CodecError["code"]): void {
  const f = only(bytes);
  assert.equal(f.kind, "invalid", JSON.stringify(f));
  assert.equal(f.id, id);
  if (f.kind === "invalid") assert.ok(isCodecError(f.error, code), JSON.stringify(f.error));
}

describe("malformed input never throws", () => {
  it("random garbage gives a CodecError or only frames that re-encode to themselves", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const c = decodeClientFrames(bytes);
        if (!c.ok) assert.ok(isCodecError(c.error));
        else {
          const valid = c.value.filter((f): f is ClientFrame => f.kind !== "invalid");
          assert.deepStrictEqual(decodeClientFrames(encodeClientFrames(valid)), { ok: true, value: valid });
          for (const f of c.value) if (f.kind === "invalid") assert.ok(isCodecError(f.error));
        }
        const s = decodeServerFrames(bytes);
        if (!s.ok) assert.ok(isCodecError(s.error));
        else assert.deepStrictEqual(decodeServerFrames(encodeServerFrames(s.value)), s);
        for (const d of [decodeStatus(bytes), decodeInspectRequest(bytes), decodeInspectReply(bytes)]) {
          if (!d.ok) assert.ok(isCodecError(d.error));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("garbage inside well-framed envelopes never throws", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (bodies) => {
        const c = decodeClientFrames(envelope(...bodies));
        if (c.ok) {
          assert.equal(c.value.length, bodies.length);
          for (const f of c.value) if (f.kind === "invalid") assert.ok(isCodecError(f.error));
        } else assert.ok(isCodecError(c.error));
        const s = decodeServerFrames(envelope(...bodies));
        if (!s.ok) assert.ok(isCodecError(s.error));
      }),
      { numRuns: 1000 },
    );
  });

  it("a truncated envelope is malformed unless cut at a frame boundary", () => {
    fc.assert(
      fc.property(fc.array(arb.clientFrame(), { minLength: 1, maxLength: 4 }), fc.array(arb.serverFrame(), { minLength: 1, maxLength: 4 }), (cf, sf) => {
        const check = (bytes: Uint8Array, boundaries: Set<number>, decode: (b: Uint8Array) => Decoded<unknown>) => {
          for (let cut = 1; cut < bytes.byteLength; cut++) {
            const d = decode(bytes.subarray(0, cut));
            if (boundaries.has(cut)) assert.ok(d.ok);
            else expectError(d, "malformed");
          }
        };
        check(encodeClientFrames(cf), new Set(cf.map((_, k) => encodeClientFrames(cf.slice(0, k)).byteLength)), decodeClientFrames);
        check(encodeServerFrames(sf), new Set(sf.map((_, k) => encodeServerFrames(sf.slice(0, k)).byteLength)), decodeServerFrames);
      }),
      { numRuns: 100 },
    );
  });

  it("wrong wire types: an envelope field that is not a length-delimited frame is malformed", () => {
    const good = frame({ id: 1, kind: { $case: "unwatch", value: { watchId: 2 } } });
    const w = new BinaryWriter();
    w.uint32(10).bytes(good);
    w.uint32(8).uint32(5); // field 1 as a varint
    expectError(decodeClientFrames(w.finish()), "malformed");
    expectError(decodeServerFrames(new BinaryWriter().uint32(8).uint32(5).finish()), "malformed");
    // an unknown field beside the frames is not an envelope either
    expectError(decodeClientFrames(new BinaryWriter().uint32(10).bytes(good).uint32(18).bytes(good).finish()), "malformed");
    // wire types 6 and 7 do not exist
    expectError(decodeClientFrames(new Uint8Array([0x0e])), "malformed");
  });

  it("wrong wire types inside a frame make that frame invalid and keep its id", () => {
    // the request (field 2) sent as a varint: no operation is set
    expectInvalidFrame(envelope(new BinaryWriter().uint32(8).uint32(42).uint32(16).uint32(1).finish()), 42, "invalid");
    // a non-existent wire type inside the body: unparseable, but the id is readable
    expectInvalidFrame(envelope(new BinaryWriter().uint32(8).uint32(43).uint32(0x17).finish()), 43, "malformed");
    // a nested length running past the frame's end
    expectInvalidFrame(envelope(new BinaryWriter().uint32(8).uint32(44).uint32(18).uint32(30).finish()), 44, "malformed");
  });

  it("a server frame with a wrong wire type fails the envelope", () => {
    const body = new BinaryWriter().uint32(8).uint32(1).uint32(16).uint32(7).finish(); // reply as a varint
    expectError(decodeServerFrames(envelope(body)), "invalid");
  });
});

describe("limits", () => {
  it("an envelope over envelopeBytesMax is tooLarge before parsing", () => {
    const huge = new Uint8Array(WIRE_LIMITS.envelopeBytesMax + 1);
    expectError(decodeClientFrames(huge), "tooLarge");
    expectError(decodeServerFrames(huge), "tooLarge");
    expectError(decodeStatus(huge), "tooLarge");
  });

  it("more than framesMax frames is tooLarge; exactly framesMax is fine", () => {
    const frames: ClientFrame[] = Array.from({ length: WIRE_LIMITS.framesMax }, (_, i) => ({ id: i, kind: "unwatch", watchId: i }));
    const d = decodeClientFrames(encodeClientFrames(frames));
    assert.ok(d.ok);
    assert.equal(d.value.length, WIRE_LIMITS.framesMax);
    expectError(decodeClientFrames(encodeClientFrames([...frames, { id: 1, kind: "unwatch", watchId: 1 }])), "tooLarge");
    const server: ServerFrame[] = Array.from({ length: WIRE_LIMITS.framesMax + 1 }, (_, i) => ({ id: i, kind: "reply", reply: { kind: "committed" } }));
    expectError(decodeServerFrames(encodeServerFrames(server)), "tooLarge");
  });

  it("a value over valueBytesMax makes its frame tooLarge (client) or the envelope tooLarge (server)", () => {
    const value = new Uint8Array(LIMITS.valueBytesMax + 1);
    const accept: ClientFrame = { id: 7, kind: "request", request: { kind: "accept", space: "s", ballot: B, entries: [{ index: 1, value }] } };
    const ok: ClientFrame = { id: 8, kind: "unwatch", watchId: 1 };
    const d = decodeClientFrames(encodeClientFrames([accept, ok]));
    assert.ok(d.ok);
    assert.equal(d.value[0]!.kind, "invalid");
    assert.equal(d.value[0]!.id, 7);
    assert.ok(d.value[0]!.kind === "invalid" && d.value[0]!.error.code === "tooLarge");
    assert.deepStrictEqual(d.value[1], ok);
    const atMax: ClientFrame = { id: 9, kind: "request", request: { kind: "accept", space: "s", ballot: B, entries: [{ index: 1, value: value.subarray(1) }] } };
    assert.equal(only(encodeClientFrames([atMax])).kind, "request");
    expectError(decodeServerFrames(encodeServerFrames([{ id: 1, kind: "learned", space: "s", index: 0, ballot: B, value }])), "tooLarge");
  });

  it("ranges: empty or reversed is invalid, over rangeMax is tooLarge", () => {
    const read = (from: number, to: number): Uint8Array => encodeClientFrames([{ id: 3, kind: "request", request: { kind: "read", space: "s", from, to } }]);
    expectInvalidFrame(read(5, 5), 3, "invalid");
    expectInvalidFrame(read(6, 5), 3, "invalid");
    expectInvalidFrame(read(0, LIMITS.rangeMax + 1), 3, "tooLarge");
    assert.equal(only(read(0, LIMITS.rangeMax)).kind, "request");
    const prepare = encodeClientFrames([{ id: 4, kind: "request", request: { kind: "prepare", space: "s", from: 10, to: 10 + LIMITS.rangeMax + 1, ballot: B } }]);
    expectInvalidFrame(prepare, 4, "tooLarge");
    expectError(decodeInspectRequest(pb.InspectRequest.encode({ space: "s", from: 0, to: LIMITS.rangeMax + 1 }).finish()), "tooLarge");
  });

  it("entries: none is invalid, over entriesMax is tooLarge", () => {
    const accept = (n: number): Uint8Array =>
      encodeClientFrames([
        { id: 5, kind: "request", request: { kind: "accept", space: "s", ballot: B, entries: Array.from({ length: n }, (_, i) => ({ index: i, value: new Uint8Array() })) } },
      ]);
    expectInvalidFrame(accept(0), 5, "invalid");
    expectInvalidFrame(accept(LIMITS.entriesMax + 1), 5, "tooLarge");
    assert.equal(only(accept(LIMITS.entriesMax)).kind, "request");
    const commit = encodeClientFrames([
      { id: 6, kind: "request", request: { kind: "commit", space: "s", ballot: B, indexes: Array.from({ length: LIMITS.entriesMax + 1 }, (_, i) => i) } },
    ]);
    expectInvalidFrame(commit, 6, "tooLarge");
  });
});

describe("uint64 beyond 2^53 - 1", () => {
  const readWith = (from: bigint, to: bigint, id = 11n): Uint8Array => {
    const read = new BinaryWriter().uint32(10).string("s").uint32(16).uint64(from).uint32(24).uint64(to).finish();
    const request = new BinaryWriter().uint32(34).bytes(read).finish();
    return envelope(new BinaryWriter().uint32(8).uint64(id).uint32(18).bytes(request).finish());
  };

  it("an index beyond 2^53 - 1 makes the frame invalid, keeping its id", () => {
    expectInvalidFrame(readWith(TWO_53, TWO_53 + 1n), 11, "invalid");
    expectInvalidFrame(readWith(0n, 2n ** 64n - 1n), 11, "invalid");
    // the largest exact integer is fine
    const f = only(readWith(TWO_53 - 2n, TWO_53 - 1n));
    assert.ok(f.kind === "request" && f.request.kind === "read" && f.request.to === Number.MAX_SAFE_INTEGER);
  });

  it("an id beyond 2^53 - 1 cannot be answered: the envelope is invalid", () => {
    expectError(decodeClientFrames(readWith(0n, 1n, TWO_53)), "invalid");
  });

  it("a ballot part beyond 2^53 - 1 is invalid; so are replies carrying one", () => {
    const ballot = new BinaryWriter().uint32(8).uint64(TWO_53).uint32(16).uint64(1n).finish();
    const rejected = new BinaryWriter().uint32(10).bytes(ballot).finish();
    const reply = new BinaryWriter().uint32(18).bytes(rejected).finish();
    expectError(decodeServerFrames(envelope(new BinaryWriter().uint32(8).uint32(1).uint32(18).bytes(reply).finish())), "invalid");
    const learned = new BinaryWriter().uint32(10).string("s").uint32(16).uint64(2n ** 60n).finish();
    expectError(decodeServerFrames(envelope(new BinaryWriter().uint32(8).uint32(2).uint32(26).bytes(learned).finish())), "invalid");
    const summary = new BinaryWriter().uint32(10).string("s").uint32(40).sint64(-(2n ** 60n)).finish();
    expectError(decodeStatus(new BinaryWriter().uint32(34).bytes(summary).finish()), "invalid");
  });
});

describe("validation keeps the frame's id", () => {
  it("a bad space name makes only that frame invalid", () => {
    fc.assert(
      fc.property(
        arb.index(),
        fc.string({ maxLength: 80 }).filter((s) => !isSpaceName(s)),
        arb.clientFrame(),
        (id, bad, other) => {
          // envelopes concatenate: frames are repeated field 1
          const d = decodeClientFrames(
            Buffer.concat([envelope(frame({ id, kind: { $case: "watch", value: { space: bad, from: 0, skipOwn: false } } })), encodeClientFrames([other])]),
          );
          assert.ok(d.ok);
          assert.equal(d.value[0]!.kind, "invalid");
          assert.equal(d.value[0]!.id, id);
          assert.deepStrictEqual(d.value[1], other);
        },
      ),
    );
  });

  it("createSpace accepts user spaces only", () => {
    const create = (space: string) => frame({ id: 12, kind: { $case: "request", value: { kind: { $case: "createSpace", value: { space } } } } });
    expectInvalidFrame(envelope(create("$alloc/log")), 12, "invalid");
    expectInvalidFrame(envelope(create("")), 12, "invalid");
    assert.equal(only(envelope(create("log"))).kind, "request");
  });

  it("a missing oneof or ballot, or a malformed ballot, is invalid", () => {
    expectInvalidFrame(envelope(frame({ id: 13, kind: undefined })), 13, "invalid");
    expectInvalidFrame(envelope(frame({ id: 14, kind: { $case: "request", value: { kind: undefined } } })), 14, "invalid");
    const prepare = (ballot: pb.Ballot | undefined) =>
      envelope(frame({ id: 15, kind: { $case: "request", value: { kind: { $case: "prepare", value: { space: "s", from: 0, to: 1, ballot } } } } }));
    expectInvalidFrame(prepare(undefined), 15, "invalid");
    expectInvalidFrame(prepare({ round: 0, proposer: 3 }), 15, "invalid");
    expectInvalidFrame(prepare({ round: 3, proposer: 0 }), 15, "invalid");
    assert.equal(only(prepare({ round: 0, proposer: 0 })).kind, "request");
    expectError(decodeServerFrames(envelope(pb.ServerFrame.encode({ id: 1, kind: undefined }).finish())), "invalid");
    expectError(decodeServerFrames(envelope(pb.ServerFrame.encode({ id: 1, kind: { $case: "reply", value: { kind: undefined } } }).finish())), "invalid");
  });

  it("a server reply with an unknown error code or a missing ballot is invalid", () => {
    const reply = (r: pb.Reply) => envelope(pb.ServerFrame.encode({ id: 1, kind: { $case: "reply", value: r } }).finish());
    expectError(decodeServerFrames(reply({ kind: { $case: "error", value: { code: 0, message: "x" } } })), "invalid");
    expectError(decodeServerFrames(reply({ kind: { $case: "error", value: { code: 99 as pb.ErrorCode, message: "x" } } })), "invalid");
    expectError(decodeServerFrames(reply({ kind: { $case: "prepareRejected", value: {} } })), "invalid");
    expectError(
      decodeServerFrames(reply({ kind: { $case: "states", value: { trimMark: 0, addresses: [{ index: 1, committed: false }], ranges: [] } } })),
      "invalid",
    );
    expectError(
      decodeServerFrames(reply({ kind: { $case: "states", value: { trimMark: 0, addresses: [], ranges: [{ from: 3, to: 3, ballot: B }] } } })),
      "invalid",
    );
  });
});
