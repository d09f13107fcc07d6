/**
 * The shard service's gateway (docs/ARCHITECTURE.md §4.4): DeliveryFrame / DeliveryReply /
 * ShardReadRequest / ShardRows / ShardStatus bytes ⇄ apps/logplayer/core values. Same rules as the
 * other gateways (proto/README.md): every decode returns `Decoded<T>`, nothing throws out of it;
 * encoders trust domain values.
 *
 * Validation: epochs and positions are exact integers (a player's epoch ≥ 1, an applied position or
 * a `previous` ≥ -1); a batch holds at most `itemsPerBatchMax` items whose positions rise, each
 * above its `previous`, with at most `batchBytesMax` data bytes unless it is one item, each item at
 * most a log slot's value; a binding names a player group (a space name) and a shard below its
 * count, at most `shardsMax`; rows rise and are at most `READ_LIMITS.rowsMax`.
 */
import { LIMITS, isUserSpaceName } from "../../../paxos/limits.ts";
import { type Decoded, copyValue, count, decodeMessage, reject } from "../../../proto/codec-kernel.ts";
import * as pb from "../../../proto/gen/wormspace/v1/logplayer.ts";
import { BEFORE_FIRST, type Binding, DELIVERY_LIMITS, type Item, type PlayerFrame, type PlayerReport, type ShardReply } from "../core/items.ts";
import type { Row } from "../core/shard-core.ts";

export const READ_LIMITS = Object.freeze({
  /** Rows one read returns. */
  rowsMax: 1_024,
  /** Data bytes one read returns (a single row, one log slot's value, may exceed it alone). */
  bytesMax: 8 << 20,
});

/** Characters of a player's name or a refusal's message kept. */
const TEXT_CHARS_MAX = 1_000;

/** A player's latest report as a shard saw it: its epoch, and how long ago the shard received it. */
export interface PlayerReportView extends PlayerReport {
  readonly epoch: number;
  readonly ageMs: number;
}

/** What a shard reports about itself. */
export interface ShardStatusView {
  readonly applied: number;
  readonly epoch: number;
  readonly binding?: Binding;
  readonly streams: number;
  readonly batches: number;
  readonly duplicates: number;
  readonly rewinds: number;
  readonly fenced: number;
  readonly writes: number;
  /** Its player's latest report (absent: none since the shard started, or a newer epoch since). */
  readonly player?: PlayerReportView;
}

export interface ShardRowsView {
  readonly rows: readonly Row[];
  readonly applied: number;
}

export interface ReadRequest {
  readonly from: number;
  readonly limit: number;
}

function position(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) reject("invalid", `${what} ${n} is not a log position`);
  return n;
}

function applied(n: number, what = "applied position"): number {
  if (!Number.isSafeInteger(n) || n < BEFORE_FIRST) reject("invalid", `${what} ${n} is neither a log position nor ${BEFORE_FIRST}`);
  return n;
}

function epoch(n: number, least: number): number {
  if (!Number.isSafeInteger(n) || n < least) reject("invalid", `epoch ${n} is below ${least}`);
  return n;
}

function text(s: string, what: string): string {
  if (s.length > TEXT_CHARS_MAX) reject("tooLarge", `${what} of ${s.length} characters exceeds ${TEXT_CHARS_MAX}`);
  return s;
}

function binding(b: pb.ShardBinding | undefined): Binding {
  if (!b) return reject("malformed", "a hello names no shard binding");
  if (!isUserSpaceName(b.group)) reject("invalid", `invalid player group ${JSON.stringify(b.group.slice(0, 80))}`);
  if (b.shards < 1 || b.shards > DELIVERY_LIMITS.shardsMax) reject("invalid", `a player group of ${b.shards} shards (1..${DELIVERY_LIMITS.shardsMax})`);
  if (b.shard >= b.shards) reject("invalid", `shard ${b.shard} of ${b.shards}`);
  return { group: b.group, shard: b.shard, shards: b.shards };
}

function report(r: pb.PlayerReport | undefined): PlayerReport {
  if (!r) return reject("malformed", "a player report is empty");
  if (r.window < 1) reject("invalid", `a player report's window of ${r.window} items`);
  return { inflight: r.inflight, windowMax: r.window, queued: r.queued, behind: r.behind };
}

const encodeReport = (r: PlayerReport): pb.PlayerReport => ({ inflight: r.inflight, window: r.windowMax, queued: r.queued, behind: r.behind });

function items(list: readonly pb.DeliveryItem[]): Item[] {
  count(list.length, DELIVERY_LIMITS.itemsPerBatchMax, "items in a batch");
  const out: Item[] = [];
  let bytes = 0;
  let last = BEFORE_FIRST;
  for (const i of list) {
    const p = position(i.position, "item position");
    const prev = applied(i.previous, "item previous");
    if (prev >= p || p <= last) reject("invalid", `item at ${p} after ${prev} breaks the batch's rising positions`);
    last = p;
    if (i.data === undefined) {
      out.push({ position: p, previous: prev });
      continue;
    }
    const data = copyValue(i.data, LIMITS.valueBytesMax, `item ${p}`);
    bytes += data.byteLength;
    out.push({ position: p, previous: prev, data });
  }
  if (out.length > 1 && bytes > DELIVERY_LIMITS.batchBytesMax) reject("tooLarge", `batch of ${bytes} data bytes exceeds ${DELIVERY_LIMITS.batchBytesMax}`);
  return out;
}

// ---- the delivery stream ----

export function encodeFrame(f: PlayerFrame): Uint8Array {
  if (f.kind === "hello") return pb.DeliveryFrame.encode({ frame: { $case: "hello", value: { epoch: f.epoch, player: f.player, binding: { ...f.binding } } } }).finish();
  if (f.kind === "report") return pb.DeliveryFrame.encode({ frame: { $case: "report", value: { epoch: f.epoch, report: encodeReport(f.report) } } }).finish();
  const list = f.items.map((i) => ({ position: i.position, previous: i.previous, ...(i.data ? { data: i.data } : {}) }));
  return pb.DeliveryFrame.encode({ frame: { $case: "batch", value: { epoch: f.epoch, items: list, ...(f.report ? { report: encodeReport(f.report) } : {}) } } }).finish();
}

export const decodeFrame = (bytes: Uint8Array): Decoded<PlayerFrame> =>
  decodeMessage(bytes, pb.DeliveryFrame, (m): PlayerFrame => {
    const f = m.frame;
    if (f?.$case === "hello") return { kind: "hello", epoch: epoch(f.value.epoch, 1), player: text(f.value.player, "player name"), binding: binding(f.value.binding) };
    if (f?.$case === "batch") return { kind: "batch", epoch: epoch(f.value.epoch, 1), items: items(f.value.items), ...(f.value.report ? { report: report(f.value.report) } : {}) };
    if (f?.$case === "report") return { kind: "report", epoch: epoch(f.value.epoch, 1), report: report(f.value.report) };
    return reject("malformed", "a delivery frame holds neither a hello, a batch nor a report");
  });

export function encodeReply(r: ShardReply): Uint8Array {
  const reply: pb.DeliveryReply["reply"] =
    r.kind === "state"
      ? { $case: "state", value: { applied: r.applied, epoch: r.epoch } }
      : r.kind === "ack"
        ? { $case: "ack", value: { applied: r.applied } }
        : r.kind === "rewind"
          ? { $case: "rewind", value: { applied: r.applied } }
          : r.kind === "fenced"
            ? { $case: "fenced", value: { epoch: r.epoch } }
            : { $case: "refused", value: { message: r.message.slice(0, TEXT_CHARS_MAX) } };
  return pb.DeliveryReply.encode({ reply }).finish();
}

export const decodeReply = (bytes: Uint8Array): Decoded<ShardReply> =>
  decodeMessage(bytes, pb.DeliveryReply, (m): ShardReply => {
    const r = m.reply;
    switch (r?.$case) {
      case "state":
        return { kind: "state", applied: applied(r.value.applied), epoch: epoch(r.value.epoch, 0) };
      case "ack":
        return { kind: "ack", applied: applied(r.value.applied) };
      case "rewind":
        return { kind: "rewind", applied: applied(r.value.applied) };
      case "fenced":
        return { kind: "fenced", epoch: epoch(r.value.epoch, 1) };
      case "refused":
        return { kind: "refused", message: text(r.value.message, "refusal") };
      default:
        return reject("malformed", "a delivery reply holds no reply");
    }
  });

// ---- reads and status ----

export const encodeReadRequest = (r: ReadRequest): Uint8Array => pb.ShardReadRequest.encode({ from: r.from, limit: r.limit }).finish();

export const decodeReadRequest = (bytes: Uint8Array): Decoded<ReadRequest> =>
  decodeMessage(bytes, pb.ShardReadRequest, (m) => {
    if (m.limit < 1 || m.limit > READ_LIMITS.rowsMax) reject("invalid", `a read of ${m.limit} rows (1..${READ_LIMITS.rowsMax})`);
    return { from: position(m.from, "read from"), limit: m.limit };
  });

export const encodeRows = (r: ShardRowsView): Uint8Array => pb.ShardRows.encode({ rows: r.rows.map((x) => ({ position: x.position, data: x.data })), applied: r.applied }).finish();

export const decodeRows = (bytes: Uint8Array): Decoded<ShardRowsView> =>
  decodeMessage(bytes, pb.ShardRows, (m) => {
    count(m.rows.length, READ_LIMITS.rowsMax, "rows in a read");
    let last = BEFORE_FIRST;
    const rows = m.rows.map((r) => {
      const p = position(r.position, "row position");
      if (p <= last) reject("invalid", `row ${p} after row ${last}`);
      last = p;
      return { position: p, data: copyValue(r.data, LIMITS.valueBytesMax, `row ${p}`) };
    });
    return { rows, applied: applied(m.applied) };
  });

export const encodeStatusRequest = (): Uint8Array => pb.ShardStatusRequest.encode({}).finish();

export const decodeStatusRequest = (bytes: Uint8Array): Decoded<object> => decodeMessage(bytes, pb.ShardStatusRequest, () => ({}));

export function encodeStatus(s: ShardStatusView): Uint8Array {
  const { player, binding: b, ...counts } = s;
  const p = player && { epoch: player.epoch, report: encodeReport(player), ageMs: player.ageMs };
  return pb.ShardStatus.encode({ ...counts, ...(b ? { binding: { ...b } } : {}), ...(p ? { player: p } : {}) }).finish();
}

export const decodeStatus = (bytes: Uint8Array): Decoded<ShardStatusView> =>
  decodeMessage(bytes, pb.ShardStatus, (m) => ({
    applied: applied(m.applied),
    epoch: epoch(m.epoch, 0),
    ...(m.binding ? { binding: binding(m.binding) } : {}),
    streams: m.streams,
    batches: m.batches,
    duplicates: m.duplicates,
    rewinds: m.rewinds,
    fenced: m.fenced,
    writes: m.writes,
    ...(m.player ? { player: { ...report(m.player.report), epoch: epoch(m.player.epoch, 1), ageMs: m.player.ageMs } } : {}),
  }));
