/**
 * How the scenario transcripts print protocol things: values, addresses, requests, replies,
 * mutations and operation results, one short line each, so a run reads like a protocol trace.
 *
 *   s[3]          one address;  s[0,16)  addresses 0 to 15 (half-open, like every range here)
 *   1:2           ballot round 1 of proposer 2;  owner  the owner ballot
 *   "x"           a value that is printable text;  fill  the log's fill marker;  0x0102  other bytes
 *   entry(ap1#0 "p")  a log entry with idempotency key ap1#0 and payload "p"
 */
import { type Ballot, formatBallot } from "../../paxos/ballot.ts";
import type { Mutation, Reply, ReportedAddress, Request } from "../../paxos/messages.ts";
import type { AllocResult, CaptureResult, CheckResult, OpResult, ReadResult, WriteResult } from "../../wor/core/results.ts";
import { type Grant, type LogEntry, type LogResult, decodeSlot, isFill } from "./adapter.ts";

export const ballot = (b: Ballot): string => formatBallot(b);

const utf8 = new TextDecoder("utf-8", { fatal: true });
const PRINTABLE = /^[\x20-\x7e]*$/;

export function value(v: Uint8Array): string {
  if (isFill(v)) return "fill";
  const slot = decodeSlot(v);
  if (!("_tag" in slot) && slot.kind === "entry") return entry(slot.entry);
  let text: string | undefined;
  try {
    text = utf8.decode(v);
  } catch {
    text = undefined;
  }
  if (text !== undefined && PRINTABLE.test(text)) return text.startsWith("{") ? text : JSON.stringify(text);
  return `0x${[...v].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** A log entry: its idempotency key, payload, and each stream tag with its backpointer. */
export function entry(e: LogEntry): string {
  const streams = e.streams.map((s) => ` ${s.tag}←${s.prev === -1 ? "none" : s.prev === -2 ? "?" : s.prev}`).join("");
  return `entry(${e.key.client}#${e.key.seq} ${value(e.payload)}${streams})`;
}

export const span = (space: string, from: number, to: number): string => (to - from === 1 ? `${space}[${from}]` : `${space}[${from},${to})`);

/** Consecutive indexes that print the same, as ranges: `s[2,5)=fill s[5]="x"`. */
export function runs(space: string, items: readonly { readonly index: number; readonly text: string }[], sep = "="): string {
  const out: string[] = [];
  let k = 0;
  while (k < items.length) {
    const first = items[k]!;
    let end = k + 1;
    while (end < items.length && items[end]!.text === first.text && items[end]!.index === items[end - 1]!.index + 1) end++;
    const at = span(space, first.index, items[end - 1]!.index + 1);
    out.push(first.text === "" ? at : `${at}${sep}${first.text}`);
    k = end;
  }
  return out.join(" ");
}

export function request(r: Request): string {
  switch (r.kind) {
    case "prepare":
      return `prepare ${span(r.space, r.from, r.to)} ${ballot(r.ballot)}`;
    case "accept":
      return `accept ${ballot(r.ballot)} ${runs(r.space, r.entries.map((e) => ({ index: e.index, text: value(e.value) })))}`;
    case "commit":
      return `commit ${ballot(r.ballot)} ${runs(r.space, r.indexes.map((index) => ({ index, text: "" })))}`;
    case "read":
      return `read ${span(r.space, r.from, r.to)}`;
    case "trim":
      return `trim ${r.space} below ${r.below}`;
    case "createSpace":
      return `createSpace ${r.space}`;
    case "install":
      return `install ${r.addresses.length > 0 ? reported(r.space, r.addresses) : r.space}${r.ranges.map((g) => ` range [${g.from},${g.to})@${ballot(g.ballot)}`).join("")}`;
  }
}

function reported(space: string, list: readonly ReportedAddress[]): string {
  return runs(
    space,
    list.map((a) => ({ index: a.index, text: a.accepted ? `${value(a.accepted.value)}@${ballot(a.accepted.ballot)}${a.committed ? "✓" : ""}` : `promised ${ballot(a.promised)}` })),
  );
}

/** A reply in full (what the acceptor answered); `space`: the request's. */
export function reply(space: string, r: Reply): string {
  switch (r.kind) {
    case "promise":
      return `promise ${ballot(r.ballot)}${r.accepted.length > 0 ? ` with ${reported(space, r.accepted)}` : ""}`;
    case "prepareRejected":
      return `rejected: promised ${ballot(r.promised)}`;
    case "voted": {
      const refused = r.refused.map((f) => `${space}[${f.index}] (${f.trimmed ? "trimmed" : f.chosen ? `chosen ${value(f.chosen)}` : `promised ${ballot(f.promised)}`})`);
      return `voted ${ballot(r.ballot)}${refused.length > 0 ? `, refused ${refused.join(" ")}` : ""}`;
    }
    case "committed":
      return "committed";
    case "states": {
      const parts = [r.trimMark > 0 ? `trim ${r.trimMark}` : "", reported(space, r.addresses), r.ranges.map((g) => `range [${g.from},${g.to})@${ballot(g.ballot)}`).join(" ")];
      const said = parts.filter((p) => p !== "").join(" ");
      return `states${said === "" ? ": nothing" : ` ${said}`}`;
    }
    case "trimmed":
      return `trimmed below ${r.mark}`;
    case "spaceCreated":
      return "created";
    case "installed":
      return "installed";
    case "error":
      return `error ${r.code}: ${r.message}`;
  }
}

/** A reply in a few words, for the line that delivers it. */
export function replyBrief(r: Reply): string {
  switch (r.kind) {
    case "promise":
      return `promise ${ballot(r.ballot)}`;
    case "prepareRejected":
      return `rejected ${ballot(r.promised)}`;
    case "voted":
      return `voted ${ballot(r.ballot)}${r.refused.length > 0 ? ` (${r.refused.length} refused)` : ""}`;
    case "trimmed":
      return `trimmed ${r.mark}`;
    case "error":
      return `error ${r.code}`;
    default:
      return r.kind;
  }
}

export function mutation(m: Mutation): string {
  switch (m.kind) {
    case "space":
      return `space ${m.space}`;
    case "address": {
      const s = m.state;
      return `${m.space}[${m.index}] ${s.accepted ? `${value(s.accepted.value)}@${ballot(s.accepted.ballot)}` : `promised ${ballot(s.promised)}`}`;
    }
    case "ranges":
      return `${m.space} ranges ${m.ranges.map((g) => `[${g.from},${g.to})@${ballot(g.ballot)}`).join(" ") || "none"}`;
    case "trim":
      return `${m.space} trim ${m.mark}`;
  }
}

export function failed<T>(r: OpResult<T>, ok: (v: T) => string): string {
  return r.ok ? ok(r.value) : `failed ${r.failure.code}: ${r.failure.message}`;
}

export function captureResult(c: CaptureResult): string {
  if (c._tag === "Preempted") return `Preempted by ${ballot(c.by)}`;
  if (c._tag === "Trimmed") return `Trimmed (mark ${c.mark})`;
  const { space, from, to } = c.capture;
  const found = [...c.written].sort(([a], [b]) => a - b).map(([index, v]) => ({ index, text: value(v) }));
  return `Captured ${span(space, from, to)} at ${ballot(c.capture.ballot)}${found.length > 0 ? `, finished ${runs(space, found)}` : ""}`;
}

export function writeResults(space: string, m: ReadonlyMap<number, WriteResult>): string {
  const text = (w: WriteResult): string => {
    if (w._tag === "AlreadyWritten") return `AlreadyWritten ${value(w.value)}`;
    if (w._tag === "Preempted") return `Preempted by ${ballot(w.by)} (outcome unknown)`;
    return w._tag;
  };
  return runs(space, [...m].sort(([a], [b]) => a - b).map(([index, w]) => ({ index, text: text(w) })), " ");
}

export function readResults(space: string, m: ReadonlyMap<number, ReadResult>): string {
  const text = (r: ReadResult): string => (r._tag === "Written" ? `Written ${value(r.value)}` : r._tag);
  return runs(space, [...m].sort(([a], [b]) => a - b).map(([index, r]) => ({ index, text: text(r) })), " ");
}

/** `asked`: an alloc's own metadata (an `Allocated` alloc wrote exactly that: not repeated). */
export function allocResult(a: AllocResult | CheckResult, asked?: Uint8Array): string {
  if (a._tag === "Allocated" && asked) return a._tag;
  return a._tag === "Allocated" || a._tag === "AlreadyAllocated" ? `${a._tag} ${value(a.meta)}` : a._tag;
}

export function grant(g: LogResult<Grant>): string {
  if (!g.ok) return `failed ${g.failure.code}: ${g.failure.message}`;
  return g.value.tokens.map((t) => `slot ${t.slot} at ${ballot(t.capture.ballot)}${t.priors.length > 0 ? ` (priors ${t.priors.join(" ")})` : ""}`).join(", ");
}
