/**
 * The KV gateway's transactions (docs/ARCHITECTURE.md §4.5), for ./codec.ts: `KvTxn`, `TxnResult`
 * and the records they carry ⇄ their proto/wormspace/v1/kv.proto messages. Converters from the wire
 * throw a `CodecError` (`reject`); ./codec.ts's decodes catch it, so nothing escapes the gateway.
 *
 * Validation: counts within `TXN_LIMITS` (`tooLarge`), values at most `valueBytesMax` bytes (fresh
 * copies), compare targets and results known with the operand their target needs, an op's oneof set,
 * and the whole transaction `txnProblem`'s rules (keys, ranges, limits, no key written twice). In
 * results: keys well-formed and rising through a list, records sane (version ≥ 1,
 * 1 ≤ createRevision ≤ modRevision ≤ the revision they are reported at).
 */
import { copyValue, count, reject } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";
import { type Compare, type CompareResult, type KvOp, type KvRecord, type KvTxn, type OpResponse, TXN_LIMITS, type TxnResult, txnProblem } from "../core/commands.ts";
import { compareKeys, keyProblem } from "../core/keys.ts";
import type { KvRangeQuery } from "../core/messages.ts";

const TARGETS: { readonly [K in Compare["target"]]: pb.KvCompareTarget } = {
  value: pb.KvCompareTarget.KV_COMPARE_TARGET_VALUE,
  version: pb.KvCompareTarget.KV_COMPARE_TARGET_VERSION,
  createRevision: pb.KvCompareTarget.KV_COMPARE_TARGET_CREATE_REVISION,
  modRevision: pb.KvCompareTarget.KV_COMPARE_TARGET_MOD_REVISION,
};
const RESULTS: { readonly [K in CompareResult]: pb.KvCompareResult } = {
  equal: pb.KvCompareResult.KV_COMPARE_RESULT_EQUAL,
  notEqual: pb.KvCompareResult.KV_COMPARE_RESULT_NOT_EQUAL,
  less: pb.KvCompareResult.KV_COMPARE_RESULT_LESS,
  greater: pb.KvCompareResult.KV_COMPARE_RESULT_GREATER,
};

/** A domain-to-wire table the other way round. */
export const fromPb = <K extends string>(table: { readonly [k in K]: number }): ReadonlyMap<number, K> => new Map((Object.keys(table) as K[]).map((k) => [table[k], k]));

const TARGETS_FROM_PB = fromPb(TARGETS);
const RESULTS_FROM_PB = fromPb(RESULTS);

// ---- transactions ----

export const rangeToPb = (q: KvRangeQuery): pb.KvRange => ({ key: q.key, to: q.to, limit: q.limit });

/** A range op's or a read's range, unchecked (the caller checks it as its rules say). */
export const rangeQueryFromPb = (m: pb.KvRange): KvRangeQuery => ({
  key: m.key,
  ...(m.to !== undefined ? { to: m.to } : {}),
  ...(m.limit !== undefined ? { limit: m.limit } : {}),
});

const compareToPb = (c: Compare): pb.KvCompare => ({
  key: c.key,
  target: TARGETS[c.target],
  result: RESULTS[c.result],
  operand: c.target === "value" ? { $case: "value", value: c.value } : { $case: "number", value: c.number },
});

function compareFromPb(m: pb.KvCompare): Compare {
  const target = TARGETS_FROM_PB.get(m.target);
  if (target === undefined) reject("invalid", `a compare of unknown target ${m.target}`);
  const result = RESULTS_FROM_PB.get(m.result);
  if (result === undefined) reject("invalid", `a compare of unknown result ${m.result}`);
  const o = m.operand;
  if (target === "value") {
    if (o?.$case !== "value") reject("invalid", "a value compare needs a value");
    return { key: m.key, target, result, value: copyValue(o.value, TXN_LIMITS.valueBytesMax, "a compare's value") };
  }
  if (o?.$case !== "number") reject("invalid", `a ${target} compare needs a number`);
  return { key: m.key, target, result, number: o.value };
}

function opToPb(o: KvOp): pb.KvOp {
  switch (o.op) {
    case "put":
      return { op: { $case: "put", value: { key: o.key, value: o.value } } };
    case "delete":
      return { op: { $case: "delete", value: { key: o.key, to: o.to } } };
    case "range":
      return { op: { $case: "range", value: rangeToPb(o) } };
  }
}

function opFromPb(m: pb.KvOp): KvOp {
  const o = m.op;
  if (o === undefined) reject("invalid", "an op that neither puts, deletes nor ranges");
  switch (o.$case) {
    case "put":
      return { op: "put", key: o.value.key, value: copyValue(o.value.value, TXN_LIMITS.valueBytesMax, "a put's value") };
    case "delete":
      return { op: "delete", key: o.value.key, ...(o.value.to !== undefined ? { to: o.value.to } : {}) };
    case "range":
      return { op: "range", ...rangeQueryFromPb(o.value) };
  }
}

export const txnToPb = (t: KvTxn): pb.KvTxn => ({ compares: t.compares.map(compareToPb), success: t.success.map(opToPb), failure: t.failure.map(opToPb) });

/** A write's transaction: within `TXN_LIMITS`, every part known, and `txnProblem` has nothing to say. */
export function txnFromPb(m: pb.KvTxn | undefined): KvTxn {
  if (!m) reject("invalid", "a write with no transaction");
  count(m.compares.length, TXN_LIMITS.comparesMax, "compares");
  count(m.success.length, TXN_LIMITS.opsMax, "success ops");
  count(m.failure.length, TXN_LIMITS.opsMax, "failure ops");
  const txn: KvTxn = { compares: m.compares.map(compareFromPb), success: m.success.map(opFromPb), failure: m.failure.map(opFromPb) };
  const problem = txnProblem(txn);
  if (problem) reject("invalid", problem);
  return txn;
}

// ---- records and results ----

export function recordFromPb(m: pb.KvRecord | undefined, revision: number, what: string): KvRecord {
  if (!m) reject("invalid", `${what}: a pair with no record`);
  const { createRevision, modRevision, version } = m;
  if (version < 1 || createRevision < 1 || createRevision > modRevision || modRevision > revision) {
    reject("invalid", `${what}: a record of version ${version}, createRevision ${createRevision}, modRevision ${modRevision} at revision ${revision}`);
  }
  return { value: copyValue(m.value, TXN_LIMITS.valueBytesMax, `${what}: a record's value`), createRevision, modRevision, version };
}

export const pairsToPb = (pairs: readonly (readonly [string, KvRecord])[]): pb.KvPair[] => pairs.map(([key, record]) => ({ key, record }));

/** Pairs in key order (at most `max`), their records written at `revision` or before. */
export function pairsFromPb(pairs: readonly pb.KvPair[], max: number, revision: number, what: string): (readonly [string, KvRecord])[] {
  count(pairs.length, max, what);
  let last: string | undefined;
  return pairs.map((p) => {
    const k = keyProblem(p.key, `${what}: key`);
    if (k) reject("invalid", k);
    if (last !== undefined && compareKeys(last, p.key) >= 0) reject("invalid", `${what}: keys out of order (${JSON.stringify(p.key.slice(0, 80))} after ${JSON.stringify(last.slice(0, 80))})`);
    last = p.key;
    return [p.key, recordFromPb(p.record, revision, what)] as const;
  });
}

function responseToPb(r: OpResponse): pb.KvOpResponse {
  switch (r.op) {
    case "put":
      return { response: { $case: "put", value: { prev: r.prev } } };
    case "delete":
      return { response: { $case: "delete", value: { deleted: pairsToPb(r.deleted) } } };
    case "range":
      return { response: { $case: "range", value: { found: pairsToPb(r.found), more: r.more } } };
  }
}

function responseFromPb(m: pb.KvOpResponse, revision: number): OpResponse {
  const r = m.response;
  if (r === undefined) reject("invalid", "an op response that is neither a put's, a delete's nor a range's");
  switch (r.$case) {
    case "put":
      return { op: "put", prev: r.value.prev === undefined ? undefined : recordFromPb(r.value.prev, revision, "a put's previous record") };
    case "delete":
      // A range delete removes any number of keys: only the envelope's size bounds them.
      return { op: "delete", deleted: pairsFromPb(r.value.deleted, Number.POSITIVE_INFINITY, revision, "deleted records") };
    case "range":
      return { op: "range", found: pairsFromPb(r.value.found, TXN_LIMITS.rangeLimitMax, revision, "records found"), more: r.value.more };
  }
}

export const resultToPb = (r: TxnResult): pb.KvTxnResult => ({ succeeded: r.succeeded, revision: r.revision, responses: r.responses.map(responseToPb) });

export function resultFromPb(m: pb.KvTxnResult | undefined): TxnResult {
  if (!m) reject("invalid", "a write's reply with no result");
  count(m.responses.length, TXN_LIMITS.opsMax, "op responses");
  return { succeeded: m.succeeded, revision: m.revision, responses: m.responses.map((r) => responseFromPb(r, m.revision)) };
}
