/** The sequencer's gateway (apps/log/wire/codec.ts): round trips, limits and malformed input. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { ENTRY_LIMITS, PREV_NONE, PREV_UNKNOWN } from "../../../apps/log/core/entry.ts";
import type { TokenAsk } from "../../../apps/log/core/steps.ts";
import type { Token } from "../../../apps/log/core/tokens.ts";
import { decodeGrantReplies, decodeGrantRequests, decodeSequencerStatus, encodeGrantReplies, encodeGrantRequests, encodeSequencerStatus } from "../../../apps/log/wire/codec.ts";
import * as pb from "../../../proto/gen/wormspace/v1/sequencer.ts";
import { type GrantReplyFrame, type GrantRequestFrame, SEQUENCER_WIRE_LIMITS } from "../../../apps/log/wire/frames.ts";
import type { CodecError, Decoded } from "../../../proto/codec-kernel.ts";

const TWO_53 = 2n ** 53n;
const B = { round: 3, proposer: 7 };

function expectError<T>(d: Decoded<T>, code: CodecError["code"]): void {
  assert.equal(d.ok, false, `expected a ${code} CodecError`);
  if (!d.ok) assert.equal(d.error.code, code, d.error.message);
}

/** An envelope of raw frame bodies (field 1, length-delimited). */
function envelope(...frames: Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  for (const f of frames) w.uint32(10).bytes(f);
  return w.finish();
}

const requestFrame = (m: Partial<pb.GrantRequest>): Uint8Array => pb.GrantRequest.encode({ id: 5, log: "orders", asks: [], streams: [], takeover: "", ...m }).finish();

/** The one decoded request of a one-frame envelope. */
function onlyRequest(bytes: Uint8Array) {
  const d = decodeGrantRequests(bytes);
  assert.ok(d.ok, JSON.stringify(d));
  assert.equal(d.value.length, 1);
  return d.value[0]!;
}

function expectInvalidRequest(bytes: Uint8Array, id: number, code: CodecError["code"]): void {
  const f = onlyRequest(bytes);
  assert.equal(f.kind, "invalid", JSON.stringify(f));
  assert.equal(f.id, id);
  if (f.kind === "invalid") assert.equal(f.error.code, code, f.error.message);
}

const tag = fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/);
const ballot = fc.record({ round: fc.integer({ min: 1, max: 1 << 30 }), proposer: fc.integer({ min: 1, max: 1 << 20 }) }).map(({ round, proposer }) => ({ round, proposer }));
const ask: fc.Arbitrary<TokenAsk> = fc
  .record({
    client: tag,
    seq: fc.maxSafeNat(),
    streams: fc.uniqueArray(tag, { maxLength: 4 }),
    preemptedBy: fc.option(ballot, { nil: undefined }),
    since: fc.option(fc.maxSafeNat(), { nil: undefined }),
    taken: fc.option(fc.maxSafeNat(), { nil: undefined }),
  })
  .map(({ client, seq, streams, preemptedBy, since, taken }) => ({
    key: { client, seq },
    streams,
    ...(preemptedBy ? { preemptedBy } : {}),
    ...(since === undefined ? {} : { since }),
    ...(taken === undefined ? {} : { taken }),
  }));
const address = fc.record({ octet: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 1, max: 65_535 }) }).map(({ octet, port }) => `127.0.0.${octet}:${port}`);
const requestArb: fc.Arbitrary<GrantRequestFrame> = fc
  .record({ id: fc.maxSafeNat(), asks: fc.array(ask, { maxLength: 5 }), streams: fc.uniqueArray(tag, { maxLength: 3 }), takeover: fc.option(address, { nil: undefined }) })
  .map(({ id, asks, streams, takeover }) => ({
    id,
    kind: "grant",
    log: "orders",
    request: { asks, ...(streams.length > 0 ? { streams } : {}), ...(takeover !== undefined ? { takeover } : {}) },
  }));
const token: fc.Arbitrary<Token> = fc
  .record({ from: fc.nat(1_000_000), off: fc.nat(63), ballot, prev: fc.array(fc.integer({ min: -2, max: 10 }), { maxLength: 4 }), priors: fc.array(fc.nat(), { maxLength: 3 }) })
  .map(({ from, off, ballot, prev, priors }) => {
    const slot = from + off;
    return { slot, capture: { space: "orders", from, to: from + 64, ballot }, prev: prev.map((p) => Math.min(p, slot - 1)), priors: priors.filter((p) => p < slot) };
  });
const replyArb: fc.Arbitrary<GrantReplyFrame> = fc.oneof(
  fc.record({ id: fc.maxSafeNat(), tokens: fc.array(token, { maxLength: 4 }), tail: fc.maxSafeNat(), tails: fc.array(fc.integer({ min: -2, max: 1_000 }), { maxLength: 3 }) }).map(({ id, tokens, tail, tails }) => ({
    id,
    result: { ok: true as const, value: { tokens, tail, streamTails: tails } },
  })),
  fc.record({ id: fc.maxSafeNat(), code: fc.constantFrom("timeout", "unavailable", "contended", "trimmed", "exhausted", "corrupt") as fc.Arbitrary<"timeout">, message: fc.string() }).map(({ id, code, message }) => ({
    id,
    result: { ok: false as const, failure: { code, message } },
  })),
  fc.record({ id: fc.maxSafeNat(), owner: tag, address }).map(({ id, owner, address }) => ({
    id,
    result: { ok: false as const, failure: { code: "redirect" as const, message: `sequencer ${owner} at ${address} serves this log`, active: { owner, address } } },
  })),
);

describe("round trips", () => {
  it("grant requests decode to what was encoded", () => {
    fc.assert(
      fc.property(fc.array(requestArb, { maxLength: 6 }), (frames) => {
        const d = decodeGrantRequests(encodeGrantRequests(frames));
        assert.ok(d.ok);
        assert.deepEqual(d.value, frames);
      }),
    );
  });

  it("grant replies decode to what was encoded", () => {
    fc.assert(
      fc.property(fc.array(replyArb, { maxLength: 6 }), (frames) => {
        const d = decodeGrantReplies(encodeGrantReplies(frames));
        assert.ok(d.ok, JSON.stringify(d));
        assert.deepEqual(d.value, frames);
      }),
    );
  });

  it("status decodes to what was encoded", () => {
    const s = {
      logs: [
        { log: "orders", phase: "ready", next: 130, captured: 62, recoveries: 1, queued: 0, streams: 2 },
        { log: "events", phase: "standby", next: 0, captured: 0, recoveries: 1, queued: 0, streams: 0, active: "127.0.0.1:7103" },
      ],
    };
    assert.deepEqual(decodeSequencerStatus(encodeSequencerStatus(s)), { ok: true, value: s });
  });
});

describe("malformed requests", () => {
  it("garbage never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeGrantRequests(bytes);
        decodeGrantReplies(bytes);
        decodeSequencerStatus(bytes);
      }),
    );
  });

  it("a bad log name, key, stream tag or ballot makes only that frame invalid", () => {
    const key = { client: "c", seq: 1 };
    expectInvalidRequest(envelope(requestFrame({ log: "$alloc/x" })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ log: "" })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ takeover: "not an address" })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ asks: [{ streams: [] }] })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ asks: [{ key: { client: "", seq: 1 }, streams: [] }] })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ asks: [{ key, streams: ["a", "a"] }] })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ asks: [{ key, streams: ["x".repeat(ENTRY_LIMITS.nameBytesMax + 1)] }] })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ streams: [""] })), 5, "invalid");
    expectInvalidRequest(envelope(requestFrame({ asks: [{ key, streams: [], preemptedBy: { round: 0, proposer: 3 } }] })), 5, "invalid");
    const d = decodeGrantRequests(envelope(requestFrame({ id: 1 }), requestFrame({ id: 2, log: "no/slash" }), requestFrame({ id: 3 })));
    assert.ok(d.ok);
    assert.deepEqual(
      d.value.map((f) => [f.id, f.kind]),
      [
        [1, "grant"],
        [2, "invalid"],
        [3, "grant"],
      ],
    );
  });

  it("too many asks or stream queries is tooLarge", () => {
    const asks = Array.from({ length: SEQUENCER_WIRE_LIMITS.asksMax + 1 }, (_, seq) => ({ key: { client: "c", seq }, streams: [] }));
    expectInvalidRequest(envelope(requestFrame({ asks })), 5, "tooLarge");
    assert.equal(onlyRequest(envelope(requestFrame({ asks: asks.slice(1) }))).kind, "grant");
    const streams = Array.from({ length: SEQUENCER_WIRE_LIMITS.streamQueriesMax + 1 }, (_, k) => `s${k}`);
    expectInvalidRequest(envelope(requestFrame({ streams })), 5, "tooLarge");
    const tags = Array.from({ length: ENTRY_LIMITS.streamsPerEntryMax + 1 }, (_, k) => `s${k}`);
    expectInvalidRequest(envelope(requestFrame({ asks: [{ key: { client: "c", seq: 0 }, streams: tags }] })), 5, "invalid");
  });

  it("a uint64 beyond 2^53 - 1 is invalid: in a key's seq the frame keeps its id, as an id the envelope fails", () => {
    const key = new BinaryWriter().uint32(10).string("c").uint32(16).uint64(TWO_53).finish();
    const ask = new BinaryWriter().uint32(10).bytes(key).finish();
    const body = new BinaryWriter().uint32(8).uint64(9n).uint32(18).string("orders").uint32(26).bytes(ask).finish();
    expectInvalidRequest(envelope(body), 9, "invalid");
    const bigId = new BinaryWriter().uint32(8).uint64(TWO_53).uint32(18).string("orders").finish();
    expectError(decodeGrantRequests(envelope(bigId)), "invalid");
  });

  it("envelope framing is strict: another top-level field is malformed", () => {
    expectError(decodeGrantRequests(new BinaryWriter().uint32(18).bytes(requestFrame({})).finish()), "malformed");
    expectError(decodeGrantRequests(envelope(requestFrame({})).subarray(0, 5)), "malformed");
  });
});

describe("malformed replies fail the envelope", () => {
  const reply = (m: pb.GrantReply) => envelope(pb.GrantReply.encode(m).finish());
  const grant = (tokens: pb.Token[], streamTails: number[] = []) => reply({ id: 1, result: { $case: "grant", value: { tokens, tail: 100, streamTails } } });
  const capture = { space: "orders", from: 64, to: 128, ballot: B };

  it("a token outside its capture, without a capture or with a bad ballot is invalid", () => {
    expectError(decodeGrantReplies(grant([{ slot: 10, capture, prev: [], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([{ slot: 128, capture, prev: [], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([{ slot: 70, prev: [], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([{ slot: 70, capture: { ...capture, ballot: undefined }, prev: [], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([{ slot: 70, capture: { ...capture, space: "" }, prev: [], priors: [] }])), "invalid");
    assert.ok(decodeGrantReplies(grant([{ slot: 70, capture, prev: [PREV_NONE, PREV_UNKNOWN, 69], priors: [3, 69] }])).ok);
    expectError(decodeGrantReplies(grant([{ slot: 70, capture, prev: [], priors: [70] }])), "invalid");
  });

  it("backpointers point back, and are none (-1) or unknown (-2) otherwise", () => {
    expectError(decodeGrantReplies(grant([{ slot: 70, capture, prev: [70], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([{ slot: 70, capture, prev: [-3], priors: [] }])), "invalid");
    expectError(decodeGrantReplies(grant([], [-3])), "invalid");
    const many = Array.from({ length: ENTRY_LIMITS.streamsPerEntryMax + 1 }, () => PREV_NONE);
    expectError(decodeGrantReplies(grant([{ slot: 70, capture, prev: many, priors: [] }])), "tooLarge");
  });

  it("a reply without a result, or with an unknown failure code, is invalid", () => {
    expectError(decodeGrantReplies(reply({ id: 1 })), "invalid");
    expectError(decodeGrantReplies(reply({ id: 1, result: { $case: "failure", value: { code: 0, message: "?" } } })), "invalid");
    expectError(decodeGrantReplies(reply({ id: 1, result: { $case: "failure", value: { code: 99 as pb.LogFailureCode, message: "?" } } })), "invalid");
    const long = "m".repeat(SEQUENCER_WIRE_LIMITS.messageCharsMax + 1);
    expectError(decodeGrantReplies(reply({ id: 1, result: { $case: "failure", value: { code: pb.LogFailureCode.LOG_FAILURE_CODE_TIMEOUT, message: long } } })), "tooLarge");
  });

  it("a redirect names an owner and a host:port address", () => {
    const redirect = (owner: string, address: string) => reply({ id: 1, result: { $case: "redirect", value: { owner, address } } });
    assert.ok(decodeGrantReplies(redirect("seq-1", "127.0.0.1:7103")).ok);
    expectError(decodeGrantReplies(redirect("", "127.0.0.1:7103")), "invalid");
    expectError(decodeGrantReplies(redirect("o".repeat(SEQUENCER_WIRE_LIMITS.ownerCharsMax + 1), "127.0.0.1:7103")), "invalid");
    expectError(decodeGrantReplies(redirect("seq-1", "")), "invalid");
    expectError(decodeGrantReplies(redirect("seq-1", "127.0.0.1:0")), "invalid");
    expectError(decodeGrantReplies(redirect("seq-1", "somewhere")), "invalid");
  });

  it("a slot beyond 2^53 - 1 is invalid", () => {
    const t = new BinaryWriter().uint32(8).uint64(TWO_53 + 5n).finish();
    const g = new BinaryWriter().uint32(10).bytes(t).finish();
    expectError(decodeGrantReplies(envelope(new BinaryWriter().uint32(8).uint32(1).uint32(18).bytes(g).finish())), "invalid");
  });

  it("a status with an unknown phase or a bad log name is invalid", () => {
    const row = { log: "orders", phase: "ready", next: 1, captured: 0, recoveries: 0, queued: 0, streams: 0, active: "" };
    expectError(decodeSequencerStatus(pb.SequencerStatus.encode({ logs: [{ ...row, phase: "sleeping" }] }).finish()), "invalid");
    expectError(decodeSequencerStatus(pb.SequencerStatus.encode({ logs: [{ ...row, log: "$x" }] }).finish()), "invalid");
    expectError(decodeSequencerStatus(pb.SequencerStatus.encode({ logs: [{ ...row, phase: "standby", active: "nowhere" }] }).finish()), "invalid");
  });
});
