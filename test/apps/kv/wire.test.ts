/**
 * The KV's gateway (apps/kv/wire): every request, reply and status round-trips; decoders refuse bad
 * input as values, never exceptions, each rule with a message that says which; an invalid request
 * frame is answered alone, by its id; the Kv service moves the codec's bytes over loopback gRPC.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { type KvTxn, TXN_LIMITS } from "../../../apps/kv/core/commands.ts";
import { compareKeys } from "../../../apps/kv/core/keys.ts";
import type { KvRangeQuery, KvReply, KvRequest, KvStatus } from "../../../apps/kv/core/messages.ts";
import { MemoryKv, applyTxn } from "../../../apps/kv/core/state.ts";
import {
  decodeReplyEnvelope,
  decodeRequestEnvelope,
  decodeStatus,
  decodeStatusRequest,
  encodeReplyEnvelope,
  encodeRequestEnvelope,
  encodeStatus,
  encodeStatusRequest,
} from "../../../apps/kv/wire/codec.ts";
import { decodeWatchBatch, decodeWatchRequest, encodeWatchBatch, encodeWatchRequest } from "../../../apps/kv/wire/codec-watch.ts";
import { type KvClientStub, type KvHandlers, KvService, makeKvClient } from "../../../apps/kv/wire/service.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { bytes, key, txn } from "./arbitraries.ts";

const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const client = fc.string({ minLength: 1, maxLength: 16 });
const seq = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
/** One key, or [from, to) with an optional limit. */
const rangeQuery: fc.Arbitrary<KvRangeQuery> = fc
  .tuple(key, key, fc.option(fc.integer({ min: 1, max: TXN_LIMITS.rangeLimitMax }), { nil: undefined }))
  .map(([a, b, limit]) => (a === b ? { key: a } : { key: compareKeys(a, b) < 0 ? a : b, to: compareKeys(a, b) < 0 ? b : a, ...(limit !== undefined ? { limit } : {}) }));
const request: fc.Arbitrary<KvRequest> = fc.oneof(
  fc
    .record({ id, kind: fc.constant("write" as const), client, seq, below: fc.nat(), txn }, { noNullPrototype: true })
    .map(({ below, ...w }): KvRequest => ({ ...w, ackedBelow: Math.min(below, w.seq) })),
  fc.record({ id, kind: fc.constant("read" as const), range: rangeQuery, stale: fc.boolean() }, { noNullPrototype: true }),
);

const write = (txn: KvTxn, over: Partial<{ id: number; client: string; seq: number; ackedBelow: number }> = {}): KvRequest => ({ id: 5, kind: "write", client: "c1", seq: 0, ackedBelow: 0, txn, ...over });
const put = (k: string, v = "v") => ({ op: "put" as const, key: k, value: bytes(v) });
const onePut = (k: string): KvTxn => ({ compares: [], success: [put(k)], failure: [] });

/** How the gateway takes one request frame: the request, or "id code: message". */
function taken(bytes: Uint8Array): KvRequest | string {
  const d = decodeRequestEnvelope(bytes);
  assert.ok(d.ok, JSON.stringify(d));
  assert.equal(d.value.length, 1);
  const f = d.value[0]!;
  return f.kind === "invalid" ? `${f.id} ${f.error.code}: ${f.error.message}` : f;
}
const takenRequest = (r: KvRequest): KvRequest | string => taken(encodeRequestEnvelope([r]));
const rawRequest = (m: pb.KvRequest): Uint8Array => pb.KvRequestEnvelope.encode({ frames: [m] }).finish();
const rawReply = (m: pb.KvReply): Uint8Array => pb.KvReplyEnvelope.encode({ frames: [m] }).finish();
const refusal = (d: { ok: boolean; error?: { code: string; message: string } }): string => (d.ok ? "accepted" : `${d.error!.code}: ${d.error!.message}`);

const record = { value: bytes("v"), createRevision: 1, modRevision: 2, version: 2 };
const STATUS: KvStatus = { partition: 2, from: "m", log: "kv-p2", mapEpoch: 3, applied: -1, revision: 0, keys: 0, lockedKeys: 1, inDoubt: 2 };

describe("KV codec round trips", () => {
  it("any request survives a round trip, every transaction of the arbitrary included", () => {
    fc.assert(fc.property(fc.array(request, { minLength: 1, maxLength: 5 }), (rs) => assert.deepStrictEqual(decodeRequestEnvelope(encodeRequestEnvelope(rs)), { ok: true, value: rs })));
  });

  it("replies with the results and reads of applied transactions, and transactions across partitions decided, survive a round trip", () => {
    fc.assert(
      fc.property(fc.array(txn, { minLength: 1, maxLength: 6 }), (txns) => {
        const store = new MemoryKv();
        let revision = 0;
        const replies: KvReply[] = txns.map((t, i) => {
          const result = applyTxn(store, revision, t);
          revision = result.revision;
          return { id: i + 1, kind: "written", position: 10 + i, result };
        });
        replies.push({ id: 99, kind: "read", found: store.entries(), more: false, revision, position: 10 + txns.length });
        replies.push({ id: 100, kind: "committed", txn: 65 + txns.length, succeeded: txns.length % 2 === 0 });
        assert.deepStrictEqual(decodeReplyEnvelope(encodeReplyEnvelope(replies)), { ok: true, value: replies });
      }),
    );
  });

  it("failures of every code, and statuses (applied -1 included), survive a round trip", () => {
    const codes = ["invalid", "tooLarge", "wrongPartition", "unavailable", "timeout", "internal", "aborted"] as const;
    const failures: KvReply[] = codes.map((code, i) => ({ id: i + 1, kind: "failed", failure: { code, message: `no: ${code}` } }));
    assert.deepStrictEqual(decodeReplyEnvelope(encodeReplyEnvelope(failures)), { ok: true, value: failures });
    fc.assert(
      fc.property(fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }), fc.option(fc.constant("z"), { nil: undefined }), (applied, to) => {
        const s: KvStatus = { ...STATUS, applied, ...(to !== undefined ? { to } : {}) };
        assert.deepStrictEqual(decodeStatus(encodeStatus(s)), { ok: true, value: s });
      }),
    );
    assert.deepStrictEqual(decodeStatus(encodeStatus({ ...STATUS, from: "" })), { ok: true, value: { ...STATUS, from: "" } }, "the first partition starts at the beginning");
    assert.deepStrictEqual(decodeStatusRequest(encodeStatusRequest()), { ok: true, value: {} });
  });

  it("byte values decoded are fresh copies, not views of the buffer", () => {
    const req = write({ compares: [{ key: "a", target: "value", result: "equal", value: bytes("old") }], success: [put("a", "new")], failure: [] });
    const reqBytes = encodeRequestEnvelope([req]);
    const decodedReq = decodeRequestEnvelope(reqBytes);
    const reply: KvReply = { id: 1, kind: "read", found: [["a", record]], more: true, revision: 2, position: 7 };
    const replyBytes = encodeReplyEnvelope([reply]);
    const decodedReply = decodeReplyEnvelope(replyBytes);
    reqBytes.fill(0);
    replyBytes.fill(0);
    assert.deepStrictEqual(decodedReq, { ok: true, value: [req] });
    assert.deepStrictEqual(decodedReply, { ok: true, value: [reply] });
  });
});

describe("KV codec refusals", () => {
  const allDecoders = [decodeRequestEnvelope, decodeReplyEnvelope, decodeStatus, decodeStatusRequest];

  it("garbage and damaged envelopes are refused as values, never thrown", () => {
    const valid = encodeRequestEnvelope([write(onePut("a")), { id: 2, kind: "read", range: { key: "a", to: "b", limit: 3 }, stale: true }]);
    const damaged = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, b]) => Uint8Array.from(valid, (x, i) => (i === at ? b : x)));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), damaged), (input) => {
        for (const decode of allDecoders) {
          const d = decode(input);
          if (!d.ok) assert.ok(["malformed", "tooLarge", "invalid"].includes(d.error.code) && d.error.message.length > 0, JSON.stringify(d.error));
        }
      }),
      { numRuns: 2_000 },
    );
    for (const decode of [decodeRequestEnvelope, decodeReplyEnvelope]) assert.match(refusal(decode(Uint8Array.of(0xff, 0xff, 0xff))), /^malformed: /);
    assert.match(refusal(decodeRequestEnvelope(Uint8Array.of(0x10, 0x01))), /^malformed: envelope holds field 2/, "only frames may appear in an envelope");
  });

  it("a write breaking a rule is answered alone, saying which", () => {
    assert.equal(takenRequest(write(onePut("x".repeat(1_025)))), "5 invalid: success: key of 1025 bytes (limit 1024)");
    assert.match(String(takenRequest(write({ compares: [], success: [put("a"), put("a")], failure: [] }))), /^5 invalid: success: two writes of one key in a transaction \("a" and "a"\)/);
    assert.equal(takenRequest(write(onePut("a"), { client: "c".repeat(129) })), "5 invalid: a client id is 129 bytes (limit 64)");
    assert.equal(takenRequest(write(onePut("a"), { client: "" })), "5 invalid: a client id is empty");
    assert.equal(takenRequest(write(onePut("a"), { seq: 2 ** 53 })), "5 invalid: integer beyond 2^53 - 1");
    assert.equal(takenRequest(write(onePut("a"), { id: 0 })), "0 invalid: a request of id 0");
    assert.equal(takenRequest(write(onePut("a"), { seq: 4, ackedBelow: 5 })), "5 invalid: a write's ackedBelow (5) above its seq (4)");
    assert.equal(takenRequest(write({ compares: [], success: [put("a", "x".repeat(TXN_LIMITS.valueBytesMax + 1))], failure: [] })), "5 tooLarge: a put's value of 262145 bytes exceeds 262144");
    const manyCompares = Array.from({ length: TXN_LIMITS.comparesMax + 1 }, () => ({ key: "a", target: "version" as const, result: "equal" as const, number: 0 }));
    assert.equal(takenRequest(write({ compares: manyCompares, success: [], failure: [] })), "5 tooLarge: compares: 129 exceeds 128");
    assert.equal(takenRequest(write({ compares: [], success: [{ op: "delete", key: "b", to: "b" }], failure: [] })), '5 invalid: success: a range\'s from ("b") must sort before its to ("b")');
    // The same key within compares and the failure branch is fine: only writes of one branch clash.
    const ok = write({ compares: [{ key: "a", target: "version", result: "greater", number: 0 }], success: [put("a")], failure: [put("a")] });
    assert.deepStrictEqual(takenRequest(ok), ok);
  });

  it("a read breaking a rule is answered alone, saying which", () => {
    const read = (range: KvRangeQuery): KvRequest => ({ id: 8, kind: "read", range, stale: false });
    assert.equal(takenRequest(read({ key: "b", to: "a" })), '8 invalid: a range\'s from ("b") must sort before its to ("a")');
    assert.equal(takenRequest(read({ key: "" })), "8 invalid: key must be a non-empty string");
    assert.equal(takenRequest(read({ key: "a", to: "b", limit: 0 })), "8 invalid: a range's limit must be an integer from 1 to 10000 (got 0)");
    assert.equal(takenRequest(read({ key: "a", to: "b", limit: TXN_LIMITS.rangeLimitMax + 1 })), "8 invalid: a range's limit must be an integer from 1 to 10000 (got 10001)");
    assert.deepStrictEqual(takenRequest(read({ key: "", to: "b" })), read({ key: "", to: "b" }), "a range may start at the beginning of the key space");
    assert.deepStrictEqual(takenRequest(read({ key: "a", to: "" })), read({ key: "a", to: "" }), 'and run to its end (to "", present on the wire)');
  });

  it("a request, op or compare with its oneof unset is refused", () => {
    assert.equal(taken(rawRequest({ id: 4 })), "4 invalid: a request that neither writes nor reads");
    assert.equal(taken(rawRequest({ id: 4, kind: { $case: "read", value: { stale: true } } })), "4 invalid: a read with no range");
    const w = (t: pb.KvTxn | undefined) => rawRequest({ id: 4, kind: { $case: "write", value: { client: "c", seq: 1, ackedBelow: 0, txn: t } } });
    assert.equal(taken(w(undefined)), "4 invalid: a write with no transaction");
    assert.equal(taken(w({ compares: [], success: [{}], failure: [] })), "4 invalid: an op that neither puts, deletes nor ranges");
    const compare = (c: Partial<pb.KvCompare>) => w({ compares: [{ key: "a", target: 1, result: 1, ...c }], success: [], failure: [] });
    assert.equal(taken(compare({})), "4 invalid: a value compare needs a value");
    assert.equal(taken(compare({ target: 2, operand: { $case: "value", value: bytes("1") } })), "4 invalid: a version compare needs a number");
    assert.equal(taken(compare({ target: 0 })), "4 invalid: a compare of unknown target 0");
    assert.equal(taken(compare({ result: 9 as pb.KvCompareResult, operand: { $case: "value", value: bytes("1") } })), "4 invalid: a compare of unknown result 9");
  });

  it("an invalid frame among valid ones is reported alone, with its id", () => {
    const good1 = write(onePut("a"), { id: 1 });
    const good3: KvRequest = { id: 3, kind: "read", range: { key: "a" }, stale: true };
    const frames = [good1, write(onePut("a"), { id: 2, client: "" }), good3, write(onePut("b"), { id: 4, seq: 2 ** 53 })];
    const d = decodeRequestEnvelope(encodeRequestEnvelope(frames));
    assert.ok(d.ok, JSON.stringify(d));
    assert.deepStrictEqual(
      d.value.map((f) => (f.kind === "invalid" ? [f.id, f.error.code, f.error.message] : f)),
      [good1, [2, "invalid", "a client id is empty"], good3, [4, "invalid", "integer beyond 2^53 - 1"]],
    );
  });

  it("a reply envelope with any bad frame is refused whole", () => {
    const good = encodeReplyEnvelope([{ id: 1, kind: "failed", failure: { code: "timeout", message: "" } }]);
    const withGood = (bad: Uint8Array) => refusal(decodeReplyEnvelope(Uint8Array.from([...good, ...bad])));
    assert.equal(withGood(rawReply({ id: 2, kind: { $case: "failed", value: { code: 99 as pb.KvFailureCode, message: "?" } } })), "invalid: unknown failure code 99");
    assert.equal(withGood(rawReply({ id: 2, kind: { $case: "failed", value: { code: 0, message: "?" } } })), "invalid: unknown failure code 0");
    assert.equal(withGood(rawReply({ id: 2 })), "invalid: a reply that is neither written, committed, read nor failed");
    const read = (found: pb.KvPair[], revision = 5) => rawReply({ id: 2, kind: { $case: "read", value: { found, more: false, revision, position: 3 } } });
    assert.match(withGood(read([{ key: "b", record }, { key: "a", record }])), /^invalid: records read: keys out of order \("a" after "b"\)/);
    assert.equal(withGood(read([{ key: "a", record }], 1)), "invalid: records read: a record of version 2, createRevision 1, modRevision 2 at revision 1");
    assert.equal(withGood(read([{ key: "a" }])), "invalid: records read: a pair with no record");
    assert.equal(withGood(read([{ key: "a".repeat(1_025), record }])), "invalid: records read: key of 1025 bytes (limit 1024)");
    assert.equal(withGood(read(Array.from({ length: TXN_LIMITS.rangeLimitMax + 1 }, () => ({ key: "a", record })))), "tooLarge: records read: 10001 exceeds 10000");
    const written = (responses: pb.KvOpResponse[]) => rawReply({ id: 2, kind: { $case: "written", value: { position: 1, result: { succeeded: true, revision: 2, responses } } } });
    assert.equal(withGood(written([{}])), "invalid: an op response that is neither a put's, a delete's nor a range's");
    assert.equal(withGood(rawReply({ id: 2, kind: { $case: "written", value: { position: 1 } } })), "invalid: a write's reply with no result");
    assert.equal(withGood(written([{ response: { $case: "put", value: { prev: { ...record, version: 0 } } } }])), "invalid: a put's previous record: a record of version 0, createRevision 1, modRevision 2 at revision 2");
    assert.match(withGood(Uint8Array.of(0x0a, 0x04, 0x08, 0x80, 0x80, 0x80)), /^malformed: /, "a frame cut inside its id");
    // A read answered by a shard that has applied nothing yet says position -1; below that is refused.
    const nothingYet: KvReply = { id: 3, kind: "read", found: [], more: false, revision: 0, position: -1 };
    assert.deepStrictEqual(decodeReplyEnvelope(encodeReplyEnvelope([nothingYet])), { ok: true, value: [nothingYet] });
    assert.equal(withGood(rawReply({ id: 2, kind: { $case: "read", value: { found: [], more: false, revision: 0, position: -2 } } })), "invalid: read: applied position -2 (-1: none)");
  });

  it("a status breaking a rule is refused, saying which", () => {
    const status = (s: Partial<pb.KvStatus>) => refusal(decodeStatus(pb.KvStatus.encode({ ...STATUS, ...s }).finish()));
    assert.equal(status({ applied: -2 }), "invalid: status: applied position -2 (-1: none)");

    assert.equal(status({ log: "" }), 'invalid: status: invalid log name ""');
    assert.equal(status({ to: "a" }), 'invalid: status: a range\'s from ("m") must sort before its to ("a")');
    assert.equal(status({ revision: 2 ** 53 }), "invalid: integer beyond 2^53 - 1");
    assert.equal(status({}), "accepted");
  });
});

describe("Kv service over loopback gRPC", () => {
  let server: grpc.Server;
  let stub: KvClientStub;
  /** A tiny node: answers each valid request with a timeout, each invalid one with its error. */
  const handlers: KvHandlers = {
    session(call) {
      call.on("data", (b: Uint8Array) => {
        const d = decodeRequestEnvelope(b);
        const replies: KvReply[] = d.ok
          ? d.value.map((f) => ({ id: f.id, kind: "failed", failure: f.kind === "invalid" ? { code: "invalid", message: f.error.message } : { code: "timeout", message: f.kind } }))
          : [{ id: 0, kind: "failed", failure: { code: "invalid", message: d.error.message } }];
        call.write(encodeReplyEnvelope(replies));
      });
      call.on("end", () => call.end());
    },
    status(call, callback) {
      callback(null, decodeStatusRequest(call.request).ok ? encodeStatus(STATUS) : new Uint8Array());
    },
    /** One batch naming the watched key, then the end a node gives a compacted revision. */
    watch(call) {
      const r = decodeWatchRequest(call.request);
      if (r.ok) call.write(encodeWatchBatch({ events: [{ key: r.value.range.key, revision: r.value.fromRevision }], revision: r.value.fromRevision + 1 }));
      call.emit("error", Object.assign(new Error("compacted"), { code: grpc.status.OUT_OF_RANGE, details: `revision ${r.ok ? r.value.fromRevision : "?"} is compacted` }));
    },
    snapshot(call) {
      call.emit("error", Object.assign(new Error("unimplemented"), { code: grpc.status.UNIMPLEMENTED, details: "no snapshot here" }));
    },
  };

  before(async () => {
    server = new grpc.Server(CHANNEL_OPTIONS);
    server.addService(KvService, handlers);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    stub = new makeKvClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  });
  after(() => {
    stub?.close();
    server?.forceShutdown();
  });

  it("names wormspace.v1.Kv's methods", () => {
    assert.deepStrictEqual([KvService.session.path, KvService.session.requestStream, KvService.status.path, KvService.status.responseStream], ["/wormspace.v1.Kv/Session", true, "/wormspace.v1.Kv/Status", false]);
    assert.deepStrictEqual([KvService.watch.path, KvService.watch.requestStream, KvService.watch.responseStream], ["/wormspace.v1.Kv/Watch", false, true]);
  });

  it("Session answers each frame by id; Status is a unary call of the codec's bytes", async () => {
    const call = stub.session();
    const got = new Promise<Uint8Array>((resolve, reject) => {
      call.once("data", (b: Uint8Array) => {
        call.end();
        resolve(b);
      });
      call.on("error", reject);
    });
    call.write(encodeRequestEnvelope([write(onePut("a"), { id: 1 }), write(onePut("a"), { id: 2, client: "" }), { id: 3, kind: "read", range: { key: "a" }, stale: false }]));
    const replies = decodeReplyEnvelope(await got);
    assert.ok(replies.ok, JSON.stringify(replies));
    assert.deepStrictEqual(
      replies.value.map((r) => [r.id, r.kind === "failed" ? `${r.failure.code}: ${r.failure.message}` : r.kind]),
      [
        [1, "timeout: write"],
        [2, "invalid: a client id is empty"],
        [3, "timeout: read"],
      ],
    );
    // Watch: a stream of the codec's batches, ended with the node's status.
    const watch = stub.watch(encodeWatchRequest({ range: { key: "w", to: "" }, fromRevision: 7 }));
    const batches: unknown[] = [];
    const ended = await new Promise<grpc.ServiceError>((resolve) => {
      watch.on("data", (b: Uint8Array) => batches.push(decodeWatchBatch(b)));
      watch.on("error", resolve);
    });
    assert.deepStrictEqual(batches, [{ ok: true, value: { events: [{ key: "w", revision: 7 }], revision: 8 } }]);
    assert.deepStrictEqual([ended.code, ended.details], [grpc.status.OUT_OF_RANGE, "revision 7 is compacted"]);
    const bytes = await new Promise<Uint8Array>((resolve, reject) => stub.status(encodeStatusRequest(), new grpc.Metadata(), {}, (err, value) => (err || !value ? reject(err) : resolve(value))));
    assert.deepStrictEqual(decodeStatus(bytes), { ok: true, value: STATUS });
  });
});
