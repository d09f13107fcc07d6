/**
 * The register model's state (verify/mc/models/wor.ts): options, acceptor state, messages, actions,
 * the events the `sometimes` properties look for, and the canonical encodings (with acceptor
 * renaming for symmetry) that the state hash is built from. The proposers' state is in
 * wor-proposer.ts, the acceptors' transitions in wor-acceptor.ts.
 */
import type { SpaceState } from "../../../paxos/acceptor.ts";
import { formatBallot } from "../../../paxos/ballot.ts";
import type { Held } from "../../../paxos/held.ts";
import type { Mutation, ReportedAddress, Reply, Request } from "../../../paxos/messages.ts";
import { type ChosenGhost, type VoteLog, showValue } from "../../spec/register-invariants.ts";
import type { Prop } from "./wor-proposer.ts";

export interface WorModelOptions {
  readonly acceptors: number;
  readonly proposers: number;
  /** Addresses [0, addresses) every proposer captures and writes: above 1, a range capture. */
  readonly addresses: number;
  /** Phase-1 rounds each proposer's write may start (first attempt included). */
  readonly attempts: number;
  /** Acceptor crashes allowed in a run. */
  readonly crashes: number;
  readonly persist: "sync" | "async";
  /** Operations tell the acceptors what they learned was chosen (commit requests). */
  readonly commits: boolean;
  /** How many proposers read the addresses once their write finished. */
  readonly readers: number;
  /** A read recovers what it finds unsettled: a capture over it (one phase-1 round), a new ballot. */
  readonly recover: boolean;
  /** Acceptor symmetry reduction (acceptors are interchangeable). Off with `unreachable` acceptors. */
  readonly symmetry: boolean;
  /** Acceptors no request ever reaches (down for the whole run; the proposers are not told). */
  readonly unreachable: readonly number[];
  /** Per acceptor, requests it served before the run (real steps, durable at the start): what
   *  proposers outside the model did before they fell idle, e.g. a promise, or an older capture's
   *  write that reached one acceptor. Their ids are below `firstProposerId`. */
  readonly seed: readonly (readonly Request[])[];
  /** The model's proposer i has id firstProposerId + i (its ballots are (round, id)). */
  readonly firstProposerId: number;
  /** Check after every step that its persisted mutations rebuild its state. Off only to show what a
   *  lost mutation leads to after a crash (test/verify/mc.test.ts). */
  readonly rebuildCheck: boolean;
}

export const WOR_MODEL_DEFAULTS: WorModelOptions = {
  acceptors: 3,
  proposers: 2,
  addresses: 1,
  attempts: 2,
  crashes: 1,
  persist: "sync",
  commits: true,
  readers: 1,
  recover: false,
  symmetry: true,
  unreachable: [],
  seed: [],
  firstProposerId: 1,
  rebuildCheck: true,
};

export const SPACE = "s";
export const EMPTY_MEMO: ReadonlySet<string> = new Set();

export interface HeldReply {
  readonly to: number;
  readonly tag: number;
  readonly replies: Held<readonly Reply[]>;
  /** Canonical encoding of what determined the replies: the request and the state it met. */
  readonly code: string;
}

export interface Acc {
  readonly durable: SpaceState;
  readonly volatile: SpaceState;
  /** Mutations persisted since the last sync (async mode). */
  readonly pending: readonly Mutation[];
  readonly held: readonly HeldReply[];
  /** Ghost: votes made durable, and votes including the unsynced ones. */
  readonly votes: VoteLog;
  readonly volVotes: VoteLog;
  /**
   * Requests already received, with their replies delivered, in this very state (not encoded: it
   * only prunes actions). Receiving one again changes nothing: the same state gives the same reply,
   * and its proposer has heard from this acceptor in that round already, or has left the round.
   */
  readonly memo: ReadonlySet<string>;
}

/** `code` is the message's encoding without the acceptor id (which symmetry renames). */
export type Msg =
  | { readonly kind: "req"; readonly from: number; readonly to: number; readonly tag: number; readonly req: Request; readonly code: string }
  | { readonly kind: "rep"; readonly from: number; readonly to: number; readonly tag: number; readonly rep: Reply; readonly code: string };
export type ReqMsg = Extract<Msg, { kind: "req" }>;

export interface WorState {
  readonly acc: readonly Acc[];
  readonly props: readonly Prop[];
  /** Every message sent (and still useful), keyed by its identity-permutation encoding. */
  readonly sent: ReadonlyMap<string, Msg>;
  readonly crashLeft: number;
  readonly chosen: ChosenGhost;
  /** (address, value) pairs acknowledged to writers (checked durable at a quorum in every state). */
  readonly acked: readonly (readonly [number, Uint8Array])[];
  // Not part of the encoding: what the transition into this state did and found.
  readonly events: number;
  readonly bad?: string;
}

export type WorAction =
  | { readonly kind: "receive"; readonly msg: string }
  /** Receive a request; its reply is lost. */
  | { readonly kind: "receiveLoseReply"; readonly msg: string }
  | { readonly kind: "sync"; readonly acceptor: number }
  | { readonly kind: "crash"; readonly acceptor: number }
  /** Sync mode: deliver a request, then crash before the step's mutations are durable. */
  | { readonly kind: "crashAfter"; readonly msg: string }
  | { readonly kind: "timeout"; readonly proposer: number };

/** Events recorded on transitions, for the `sometimes` properties. */
export const EV = {
  capturePreempted: 1,
  adopted: 2,
  writeAcked: 4,
  readWritten: 8,
  crashLostState: 16,
  writePreempted: 32,
  readUnwritten: 64,
  timedOut: 128,
  recovered: 256,
  captured: 512,
  sawTwoBallots: 1024,
  /** A proposer's first capture operation (which retries inside itself while preempted) succeeded. */
  firstCaptureSucceeded: 2048,
} as const;

// ---- Encoding. ----
export const b = formatBallot;
export const hex = showValue;

/** Space states are never changed once built (steps work on a copy): their codes are kept. */
const spaceCodes = new WeakMap<SpaceState, string>();
export function encSpace(sp: SpaceState): string {
  let code = spaceCodes.get(sp);
  if (code === undefined) spaceCodes.set(sp, (code = makeSpaceCode(sp)));
  return code;
}
function makeSpaceCode(sp: SpaceState): string {
  const ranges = sp.ranges.map((r) => `${r.from}-${r.to}@${b(r.ballot)}`).join(",");
  const t = sp.trimMark > 0 ? `t${sp.trimMark}` : "";
  const addrs = [...sp.addresses]
    .sort(([x], [y]) => x - y)
    .map(([i, s]) => `${i}:${b(s.promised)}${s.accepted ? `/${b(s.accepted.ballot)}=${hex(s.accepted.value)}` : ""}${s.committed ? "!" : ""}`);
  return `${t}${ranges}_${addrs.join(",")}`;
}
/** The state as storage rebuilds it: commit flags are in-memory hints (paxos/acceptor.ts commit). */
export const encDurablePart = (sp: SpaceState): string => encSpace(sp).replaceAll("!", "");

const span = (from: number, to: number) => (to - from === 1 ? `${from}` : `${from}-${to}`);
export function encRequest(r: Request): string {
  switch (r.kind) {
    case "prepare":
      return `P${span(r.from, r.to)}@${b(r.ballot)}`;
    case "accept":
      return `A${b(r.ballot)}[${r.entries.map((e) => `${e.index}=${hex(e.value)}`).join(",")}]`;
    case "commit":
      return `C${b(r.ballot)}[${r.indexes.join(",")}]`;
    case "read":
      return `R${span(r.from, r.to)}`;
    default:
      return r.kind;
  }
}
const encReported = (a: ReportedAddress) =>
  `${a.index}:${b(a.promised)}${a.accepted ? `/${b(a.accepted.ballot)}=${hex(a.accepted.value)}` : ""}${a.committed ? "!" : ""}`;
export function encReply(r: Reply): string {
  switch (r.kind) {
    case "promise":
      return `p${b(r.ballot)}[${r.accepted.map(encReported).join(",")}]`;
    case "prepareRejected":
      return `j${b(r.promised)}`;
    case "voted":
      return `v${b(r.ballot)}[${r.refused.map((x) => `${x.index}:${b(x.promised)}${x.trimmed ? "t" : ""}${x.chosen ? `=${hex(x.chosen)}` : ""}`).join(",")}]`;
    case "states":
      return `s${r.trimMark}[${r.addresses.map(encReported).join(",")}][${r.ranges.map((x) => `${x.from}-${x.to}@${b(x.ballot)}`).join(",")}]`;
    case "committed":
      return "c";
    case "error":
      return `e${r.code}`;
    default:
      return r.kind;
  }
}
export const encMsg = (m: Msg, perm: readonly number[]): string =>
  m.kind === "req" ? `>${m.from}${perm[m.to]}#${m.tag}${m.code}` : `<${perm[m.from]}${m.to}#${m.tag}${m.code}`;
const encVotes = (log: VoteLog): string => [...log.keys()].sort().join(",");
const accCodes = new WeakMap<Acc, string>();
export function encAcc(a: Acc): string {
  let code = accCodes.get(a);
  if (code === undefined) {
    const d = encSpace(a.durable);
    const vol = encSpace(a.volatile);
    const v = vol !== d || a.volVotes !== a.votes ? `~${vol}<${encVotes(a.volVotes)}>` : "";
    code = `${d}<${encVotes(a.votes)}>${v}{${a.held.map((h) => `${h.to}#${h.tag}${h.code}`).join(";")}}`;
    accCodes.set(a, code);
  }
  return code;
}

/** Encodings of immutable parts, per acceptor renaming: states share most of their parts. */
export const sentCodes = new WeakMap<object, Map<string, string>>();
export const propCodes = new WeakMap<object, Map<string, string>>();
export function cached(table: WeakMap<object, Map<string, string>>, key: object, perm: string, make: () => string): string {
  let byPerm = table.get(key);
  if (!byPerm) table.set(key, (byPerm = new Map()));
  let code = byPerm.get(perm);
  if (code === undefined) byPerm.set(perm, (code = make()));
  return code;
}

export function dedupeAcked(vs: readonly (readonly [number, Uint8Array])[]): readonly (readonly [number, Uint8Array])[] {
  const seen = new Map<string, readonly [number, Uint8Array]>();
  for (const v of vs) seen.set(`${v[0]}=${hex(v[1])}`, v);
  return seen.size === vs.length ? vs : [...seen.values()];
}

/** One transition's working copy: what it sends, what proposers learn, what it finds wrong. */
export interface Transition {
  sent: Map<string, Msg>;
  /** `sent` is this transition's own copy (copy on write). */
  ownSent: boolean;
  props: Prop[];
  loseReplies: boolean;
  changed: boolean;
  events: number;
  bad: string[];
  acked: [number, Uint8Array][];
  reads: [number, Uint8Array][];
}

/** Sending: a request from proposer `from` in its round `tag` to every reachable acceptor. */
export function network(o: WorModelOptions): { readonly identity: readonly number[]; broadcast(c: Transition, from: number, tag: number, req: Request): void } {
  const identity = Array.from({ length: o.acceptors }, (_, i) => i);
  const send = (c: Transition, m: Msg) => {
    const k = encMsg(m, identity);
    if (c.sent.has(k)) return;
    if (!c.ownSent) {
      c.sent = new Map(c.sent);
      c.ownSent = true;
    }
    c.sent.set(k, m);
    c.changed = true;
  };
  return {
    identity,
    broadcast(c, from, tag, req) {
      const code = encRequest(req);
      for (let a = 0; a < o.acceptors; a++) if (!o.unreachable.includes(a)) send(c, { kind: "req", from, to: a, tag, req, code });
    },
  };
}
