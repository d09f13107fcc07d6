/**
 * Properties of WormTX's data (fast-check): votes and records survive their encodings (a NO's reason
 * too, cut to `reasonBytesMax` on a character boundary; a NO of before reasons reads as one without),
 * and no bytes make a decoder throw (a register may hold anything a client wrote); the outcome rule `decide`
 * agrees with the invariant's own reading of the votes (`outcomeProblem`), and with the planted
 * `commitWithVoteMissing` it does not; the participant service's gateway turns any bytes into a value.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeOps, encodeOps } from "../../../apps/txn/core/bank.ts";
import { outcomeProblem } from "../../../apps/txn/core/invariants.ts";
import { decide } from "../../../apps/txn/core/outcome.ts";
import { TXN_LIMITS, type TxnRecord, type Vote, decodeAllocMeta, decodeVote, encodeRecord, encodeVote } from "../../../apps/txn/core/record.ts";
import { decodeReplies, decodeRequests } from "../../../apps/txn/wire/codec.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";

const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
const record: fc.Arbitrary<TxnRecord> = fc.record({
  participants: fc.uniqueArray(name, { minLength: 1, maxLength: 16 }),
  deadline: fc.nat(),
  coordinator: name,
});
/** A reason that fits: at most 50 code points of 4 bytes. */
const shortReason = fc.string({ unit: "binary", minLength: 1, maxLength: 50 });
const vote: fc.Arbitrary<Vote> = fc.oneof(
  fc.record({ kind: fc.constant("yes" as const), participant: name, record: record.map(encodeRecord), payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant("no" as const), participant: name }),
  fc.record({ kind: fc.constant("no" as const), participant: name, reason: shortReason }),
  fc.constant({ kind: "no" as const }),
);
/** The vote registers as a reader sees them: a chosen vote, or none yet. */
const votes = fc.array(fc.option(vote, { nil: undefined }), { minLength: 1, maxLength: 6 });

test("votes, records and ops survive their encodings; any bytes decode to a value", () => {
  fc.assert(fc.property(vote, (v) => assert.deepEqual(decodeVote(encodeVote(v)), { ...v })));
  fc.assert(fc.property(record, (r) => assert.deepEqual(decodeAllocMeta(encodeRecord(r)), { kind: "txn", record: { ...r } })));
  const ops = fc.array(fc.record({ account: name, delta: fc.integer({ min: -1e9, max: 1e9 }) }), { maxLength: 8 });
  fc.assert(fc.property(ops, (o) => assert.deepEqual(decodeOps(encodeOps(o)), o.map((x) => ({ ...x })))));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.ok(["yes", "no"].includes(decodeVote(bytes).kind));
      assert.ok(["txn", "block", "unknown"].includes(decodeAllocMeta(bytes).kind));
      for (const d of [decodeRequests(bytes), decodeReplies(bytes)]) assert.equal(typeof d.ok, "boolean");
    }),
  );
});

test("decide follows the outcome rule: committed iff every vote is YES, aborted iff one is NO, else in doubt", () => {
  fc.assert(
    fc.property(votes, (vs) => {
      const outcome = decide(vs);
      if (outcome) assert.equal(outcomeProblem(vs, outcome), undefined);
      else assert.ok(vs.some((v) => v === undefined) && !vs.some((v) => v?.kind === "no"));
    }),
  );
  // With the planted bug, some votes make decide commit where the rule does not. Random votes find
  // such a case (a YES and a missing vote, no NO) in ~99 % of runs, so the case is also given.
  const yes: Vote = { kind: "yes", participant: "p0", record: encodeRecord({ participants: ["p0", "p1"], deadline: 0, coordinator: "c" }), payload: new Uint8Array() };
  const holds = fc.property(votes, (vs) => {
    const o = decide(vs);
    return o === undefined || outcomeProblem(vs, o) === undefined;
  });
  const wrong = plantBugForTest("commitWithVoteMissing", () => fc.check(holds, { examples: [[[yes, undefined]]] }));
  assert.equal(wrong.failed, true);
  assert.equal(fc.check(holds, { examples: [[[yes, undefined]]] }).failed, false, "without the bug the case holds");
});

const utf8 = new TextEncoder();

test("a NO's reason survives its encoding, cut to reasonBytesMax on a character boundary; a YES is encoded as before", () => {
  // Any name (1 to 60 code points: at most 240 bytes, its length fits the length byte), any reason.
  const anyName = fc.string({ unit: "binary", minLength: 1, maxLength: 60 });
  const anyReason = fc.string({ unit: "binary", maxLength: 300 });
  fc.assert(
    fc.property(anyName, anyReason, (participant, reason) => {
      const got = decodeVote(encodeVote({ kind: "no", participant, reason }));
      assert.equal(got.kind, "no");
      assert.equal(got.participant, participant);
      const bytes = utf8.encode(reason).byteLength;
      if (reason === "") assert.deepEqual(got, { kind: "no", participant });
      else if (bytes <= TXN_LIMITS.reasonBytesMax) assert.equal(got.kind === "no" && got.reason, reason);
      else {
        // Cut: a prefix of whole characters (a cut inside one would not be a prefix), at most 3 bytes short.
        const cut = got.kind === "no" ? (got.reason ?? "") : "";
        assert.ok(reason.startsWith(cut), JSON.stringify({ reason, cut }));
        const n = utf8.encode(cut).byteLength;
        assert.ok(n <= TXN_LIMITS.reasonBytesMax && n > TXN_LIMITS.reasonBytesMax - 4, `${n} bytes`);
      }
      assert.deepEqual(decodeVote(encodeVote({ kind: "no", participant })), { kind: "no", participant });
    }),
  );
  // A reason is only a participant's: a NO naming nobody gives none.
  assert.deepEqual(encodeVote({ kind: "no", reason: "why" }), Uint8Array.of(0, 0));
  assert.deepEqual(decodeVote(Uint8Array.of(0, 0, 0x41)), { kind: "no" });
  // Cut on a character boundary: byte 200 falls inside a 2-byte é, or a 4-byte 😀.
  const cut = (reason: string) => {
    const v = decodeVote(encodeVote({ kind: "no", participant: "p0", reason }));
    return v.kind === "no" ? v.reason : undefined;
  };
  assert.equal(cut(`a${"é".repeat(150)}`), `a${"é".repeat(99)}`);
  assert.equal(cut(`x${"😀".repeat(60)}`), `x${"😀".repeat(49)}`);
  assert.equal(cut("😀".repeat(60)), "😀".repeat(50));
  assert.equal(cut("r".repeat(201)), "r".repeat(200));
  // YES: [1, name length, name, record length (2 bytes), record, payload], as before reasons.
  fc.assert(
    fc.property(name, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (participant, rec, payload) => {
      const n = utf8.encode(participant);
      assert.deepEqual(encodeVote({ kind: "yes", participant, record: rec, payload }), Uint8Array.of(1, n.byteLength, ...n, rec.byteLength >> 8, rec.byteLength & 0xff, ...rec, ...payload));
    }),
  );
});

test("a NO of before reasons decodes with none; truncated or garbled votes decode without throwing", () => {
  assert.deepEqual(decodeVote(Uint8Array.of(0, 2, 0x70, 0x30)), { kind: "no", participant: "p0" });
  assert.deepEqual(decodeVote(Uint8Array.of(0, 0)), { kind: "no" });
  // Bytes after the name that are not UTF-8: no reason.
  assert.deepEqual(decodeVote(Uint8Array.of(0, 2, 0x70, 0x30, 0xff, 0xfe)), { kind: "no", participant: "p0" });
  assert.deepEqual(decodeVote(Uint8Array.of(0, 2, 0x70, 0x30, 0x68, 0x69)), { kind: "no", participant: "p0", reason: "hi" });
  fc.assert(
    fc.property(vote, fc.string({ unit: "binary", maxLength: 80 }), fc.nat(), fc.uint8Array({ maxLength: 8 }), (v, reason, at, junk) => {
      const full = encodeVote(v.kind === "no" ? { ...v, reason } : v);
      const cutAt = at % (full.byteLength + 1);
      for (const bytes of [full.subarray(0, cutAt), Uint8Array.of(...full.subarray(0, cutAt), ...junk)]) {
        const d = decodeVote(bytes);
        assert.ok(d.kind === "no" || d.kind === "yes");
        if (d.kind === "no" && d.reason !== undefined) assert.equal(typeof d.reason, "string");
      }
    }),
  );
});
