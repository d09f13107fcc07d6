/**
 * The KV's watch messages (proto/wormspace/v1/kv.proto `KvWatchRequest`, `KvWatchBatch`) ⇄ the
 * domain values of apps/kv/core/messages.ts, under the gateway rules of ./codec.ts: decodes return
 * `Decoded<T>` and never throw; byte values are fresh copies; encoders trust domain values.
 *
 * Validation: a watch's range follows a range op's rules (`rangeOpProblem`); its `fromRevision` is an
 * exact integer ≥ 0; a batch holds at most `KV_LIMITS.watchBatchEventsMax` events, each on a
 * well-formed key, in revision order, none above the batch's revision, each record written at its
 * event's revision (a put) or absent (a delete).
 */
import { type Decoded, count, decodeMessage, reject } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";
import { rangeOpProblem } from "../core/commands.ts";
import { keyProblem } from "../core/keys.ts";
import { KV_LIMITS, type KvEvent, type KvWatchBatch, type KvWatchRequest } from "../core/messages.ts";
import { recordFromPb } from "./codec-txn.ts";

export const encodeWatchRequest = (r: KvWatchRequest): Uint8Array =>
  pb.KvWatchRequest.encode({ range: { key: r.range.key, ...(r.range.to !== undefined ? { to: r.range.to } : {}) }, fromRevision: r.fromRevision }).finish();

export const decodeWatchRequest = (bytes: Uint8Array): Decoded<KvWatchRequest> =>
  decodeMessage(bytes, pb.KvWatchRequest, (m) => {
    if (!m.range) reject("invalid", "a watch with no range");
    if (m.range.limit !== undefined) reject("invalid", "a watch's range takes no limit");
    const range = { key: m.range.key, ...(m.range.to !== undefined ? { to: m.range.to } : {}) };
    const problem = rangeOpProblem(range);
    if (problem) reject("invalid", problem);
    return { range, fromRevision: m.fromRevision };
  });

export const encodeWatchBatch = (b: KvWatchBatch): Uint8Array =>
  pb.KvWatchBatch.encode({ events: b.events.map((e) => ({ key: e.key, revision: e.revision, ...(e.record ? { record: e.record } : {}) })), revision: b.revision }).finish();

export const decodeWatchBatch = (bytes: Uint8Array): Decoded<KvWatchBatch> =>
  decodeMessage(bytes, pb.KvWatchBatch, (m) => {
    count(m.events.length, KV_LIMITS.watchBatchEventsMax, "events");
    let last = 0;
    const events = m.events.map((e): KvEvent => {
      const k = keyProblem(e.key, "an event's key");
      if (k) reject("invalid", k);
      if (e.revision < last || e.revision < 1 || e.revision > m.revision) reject("invalid", `an event at revision ${e.revision} (after ${last}, in a batch up to ${m.revision})`);
      last = e.revision;
      if (!e.record) return { key: e.key, revision: e.revision };
      const record = recordFromPb(e.record, e.revision, "an event");
      if (record.modRevision !== e.revision) reject("invalid", `an event at revision ${e.revision} with a record of modRevision ${record.modRevision}`);
      return { key: e.key, record, revision: e.revision };
    });
    return { events, revision: m.revision };
  });
