/** The shard service's gateway (apps/logplayer/wire/codec.ts): round trips, validation, and garbage never throws. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DELIVERY_LIMITS, type Item, type PlayerFrame, type PlayerReport, type ShardReply } from "../../../apps/logplayer/core/items.ts";
import {
  READ_LIMITS,
  type ShardStatusView,
  decodeFrame,
  decodeReadRequest,
  decodeReply,
  decodeRows,
  decodeStatus,
  decodeStatusRequest,
  encodeFrame,
  encodeReadRequest,
  encodeReply,
  encodeRows,
  encodeStatus,
  encodeStatusRequest,
} from "../../../apps/logplayer/wire/codec.ts";
import type { CodecError, Decoded } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/logplayer.ts";

function expectError<T>(d: Decoded<T>, code: CodecError["code"], pattern?: RegExp): void {
  assert.equal(d.ok, false, `expected a ${code} CodecError, got ${JSON.stringify(d)}`);
  if (!d.ok) {
    assert.equal(d.error.code, code, d.error.message);
    if (pattern) assert.match(d.error.message, pattern);
  }
}

const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
const bytes = fc.uint8Array({ maxLength: 64 });
const binding = fc.integer({ min: 1, max: DELIVERY_LIMITS.shardsMax }).chain((shards) => fc.record({ group: name, shard: fc.integer({ min: 0, max: shards - 1 }), shards: fc.constant(shards) }));
/** A chain of items: rising positions, each `previous` the one before. */
const items: fc.Arbitrary<Item[]> = fc
  .tuple(fc.integer({ min: -1, max: 1e12 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 1_000 }), fc.option(bytes, { nil: undefined })), { maxLength: 20 }))
  .map(([start, steps]) => {
    let previous = start;
    return steps.map(([gap, data]) => {
      const position = previous + gap;
      const item: Item = data === undefined ? { position, previous } : { position, previous, data };
      previous = position;
      return item;
    });
  });
const epoch = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const report: fc.Arbitrary<PlayerReport> = fc.record({ inflight: u32, windowMax: fc.integer({ min: 1, max: 2 ** 32 - 1 }), queued: u32, behind: fc.boolean() });
const frame: fc.Arbitrary<PlayerFrame> = fc.oneof(
  fc.record({ kind: fc.constant("hello" as const), epoch, player: name, binding }),
  fc.record({ kind: fc.constant("batch" as const), epoch, items, report }, { requiredKeys: ["kind", "epoch", "items"] }),
  fc.record({ kind: fc.constant("report" as const), epoch, report }),
);
const applied = fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER });
const reply: fc.Arbitrary<ShardReply> = fc.oneof(
  fc.record({ kind: fc.constant("state" as const), applied, epoch: fc.integer({ min: 0, max: 1e15 }) }),
  fc.record({ kind: fc.constant("ack" as const), applied }),
  fc.record({ kind: fc.constant("rewind" as const), applied }),
  fc.record({ kind: fc.constant("fenced" as const), epoch }),
  fc.record({ kind: fc.constant("refused" as const), message: fc.string({ maxLength: 100 }) }),
);
const count = fc.integer({ min: 0, max: 1e9 });
const status: fc.Arbitrary<ShardStatusView> = fc.record(
  {
    applied,
    epoch: fc.integer({ min: 0, max: 1e15 }),
    binding,
    streams: fc.integer({ min: 0, max: 1_000 }),
    batches: count,
    duplicates: count,
    rewinds: count,
    fenced: count,
    writes: count,
    player: fc.tuple(report, epoch, fc.integer({ min: 0, max: 1e12 })).map(([r, e, ageMs]) => ({ ...r, epoch: e, ageMs })),
  },
  { requiredKeys: ["applied", "epoch", "streams", "batches", "duplicates", "rewinds", "fenced", "writes"] },
);

describe("LogPlayer wire codec", () => {
  // structuredClone: fast-check's records have no prototype; decoded values are plain objects.
  it("frames, replies, reads, rows and status round-trip", () => {
    fc.assert(fc.property(frame, (f) => assert.deepEqual(decodeFrame(encodeFrame(f)), { ok: true, value: structuredClone(f) })), { numRuns: 300 });
    fc.assert(fc.property(reply, (r) => assert.deepEqual(decodeReply(encodeReply(r)), { ok: true, value: structuredClone(r) })), { numRuns: 300 });
    fc.assert(fc.property(status, (s) => assert.deepEqual(decodeStatus(encodeStatus(s)), { ok: true, value: structuredClone(s) })), { numRuns: 200 });
    const rows = items.map((list) => list.map((i) => ({ position: i.position, data: i.data ?? new Uint8Array() })));
    fc.assert(fc.property(rows, applied, (r, a) => assert.deepEqual(decodeRows(encodeRows({ rows: r, applied: a })), { ok: true, value: { rows: r, applied: a } })), { numRuns: 200 });
    assert.deepEqual(decodeReadRequest(encodeReadRequest({ from: 7, limit: 10 })), { ok: true, value: { from: 7, limit: 10 } });
    assert.deepEqual(decodeStatusRequest(encodeStatusRequest()), { ok: true, value: {} });
  });

  it("an empty payload is an entry, not a watermark", () => {
    const f: PlayerFrame = { kind: "batch", epoch: 1, items: [{ position: 0, previous: -1, data: new Uint8Array() }, { position: 3, previous: 0 }] };
    const d = decodeFrame(encodeFrame(f));
    assert.ok(d.ok && d.value.kind === "batch");
    assert.deepEqual(d.value.items[0]!.data, new Uint8Array());
    assert.equal(d.value.items[1]!.data, undefined);
  });

  it("garbage never throws: it decodes or is a CodecError", () => {
    const decoders = [decodeFrame, decodeReply, decodeReadRequest, decodeRows, decodeStatus, decodeStatusRequest];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        for (const d of decoders) {
          const r = d(b) as Decoded<unknown>;
          if (!r.ok) assert.equal(r.error._tag, "CodecError");
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("refuses what breaks the rules, naming it", () => {
    const batch = (list: pb.DeliveryItem[], e = 1) => pb.DeliveryFrame.encode({ frame: { $case: "batch", value: { epoch: e, items: list } } }).finish();
    expectError(decodeFrame(batch([{ position: 5, previous: 5 }])), "invalid", /rising positions/);
    expectError(decodeFrame(batch([{ position: 5, previous: 4 }, { position: 5, previous: 5 }])), "invalid", /rising positions/);
    expectError(decodeFrame(batch([{ position: 5, previous: -2 }])), "invalid", /previous -2/);
    expectError(decodeFrame(batch([], 0)), "invalid", /epoch 0/);
    const many = Array.from({ length: DELIVERY_LIMITS.itemsPerBatchMax + 1 }, (_, i) => ({ position: i, previous: i - 1 }));
    expectError(decodeFrame(batch(many)), "tooLarge", /items in a batch/);
    const big = new Uint8Array(1 << 20);
    const heavy = Array.from({ length: 5 }, (_, i) => ({ position: i, previous: i - 1, data: big }));
    expectError(decodeFrame(batch(heavy)), "tooLarge", /batch of/);
    const hello = (b: pb.ShardBinding | undefined) => pb.DeliveryFrame.encode({ frame: { $case: "hello", value: { epoch: 1, player: "p", ...(b ? { binding: b } : {}) } } }).finish();
    expectError(decodeFrame(hello(undefined)), "malformed", /no shard binding/);
    expectError(decodeFrame(hello({ group: "g", shard: 2, shards: 2 })), "invalid", /shard 2 of 2/);
    expectError(decodeFrame(hello({ group: "no spaces", shard: 0, shards: 2 })), "invalid", /player group/);
    expectError(decodeFrame(pb.DeliveryFrame.encode({}).finish()), "malformed", /neither a hello, a batch nor a report/);
    expectError(decodeFrame(pb.DeliveryFrame.encode({ frame: { $case: "report", value: { epoch: 1 } } }).finish()), "malformed", /player report is empty/);
    expectError(decodeFrame(pb.DeliveryFrame.encode({ frame: { $case: "report", value: { epoch: 1, report: { inflight: 0, window: 0, queued: 0, behind: false } } } }).finish()), "invalid", /window of 0/);
    expectError(decodeReply(pb.DeliveryReply.encode({}).finish()), "malformed");
    expectError(decodeReadRequest(encodeReadRequest({ from: 0, limit: READ_LIMITS.rowsMax + 1 })), "invalid");
    expectError(decodeRows(pb.ShardRows.encode({ rows: [{ position: 3, data: new Uint8Array() }, { position: 3, data: new Uint8Array() }], applied: 3 }).finish()), "invalid", /row 3 after row 3/);
  });
});
