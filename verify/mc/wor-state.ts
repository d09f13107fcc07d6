/**
 * The register model's state for the model checker (verify/mc/wor-model.ts): options, acceptor and
 * proposer state, messages, actions, the events the `sometimes` properties look for, and the
 * canonical encodings (with acceptor renaming for symmetry) that the state hash is built from, and
 * the one-space acceptor-state helpers (rebuild from persisted mutations, as a restart does).
 */
import { type AcceptorState, type SpaceState, applyMutation } from "../../paxos/acceptor.ts";
import { type Ballot, formatBallot } from "../../paxos/ballot.ts";
import type { Held } from "../../paxos/held.ts";
import type { Mutation, Reply, Request } from "../../paxos/messages.ts";
import { type ChosenGhost, type VoteLog, showValue } from "../spec/register-invariants.ts";

export interface WorModelOptions {
  readonly acceptors: number;
  readonly proposers: number;
  /** Phase-1 rounds each proposer may start (first attempt included). */
  readonly attempts: number;
  /** Acceptor crashes allowed in a run. */
  readonly crashes: number;
  readonly persist: "sync" | "async";
  /** Proposers send commit after an acknowledged write. */
  readonly commits: boolean;
  /** How many proposers read the register once their write finished. */
  readonly readers: number;
  /** Acceptor symmetry reduction (acceptors are interchangeable). Off with `unreachable` acceptors. */
  readonly symmetry: boolean;
  /** Acceptors no request ever reaches (down for the whole run; the proposers are not told). */
  readonly unreachable: readonly number[];
  /** Per acceptor, a promise it holds from the start (of an idle proposer outside the model). */
  readonly promised: readonly (Ballot | undefined)[];
}

export const WOR_MODEL_DEFAULTS: WorModelOptions = {
  acceptors: 3,
  proposers: 2,
  attempts: 2,
  crashes: 1,
  persist: "sync",
  commits: true,
  readers: 1,
  symmetry: true,
  unreachable: [],
  promised: [],
};

export const SPACE = "s";
export const EMPTY_MEMO: ReadonlySet<string> = new Set();
export const INDEX = 0;

export type Phase = "prepare" | "accept" | "read" | "finished";

export interface Prop {
  readonly phase: Phase;
  readonly attempt: number;
  readonly seen: Ballot;
  readonly ballot: Ballot;
  /** Round counter: replies carry it; replies of older rounds are discarded. */
  readonly tag: number;
  readonly proposing?: Uint8Array;
  /** Replies of the current round: acceptor, reply, reply encoding; sorted by acceptor. */
  readonly replies: readonly (readonly [number, Reply, string])[];
  readonly outcome?: string;
}

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

export interface WorState {
  readonly acc: readonly Acc[];
  readonly props: readonly Prop[];
  /** Every message sent (and still useful), keyed by its identity-permutation encoding. */
  readonly sent: ReadonlyMap<string, Msg>;
  readonly crashLeft: number;
  readonly chosen: ChosenGhost;
  /** Values acknowledged to writers (checked durable at a quorum in every state). */
  readonly acked: readonly Uint8Array[];
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
  duplicateReceived: 256,
  captured: 512,
} as const;

// ---- Encoding. ----
export const b = formatBallot;
export const hex = showValue;
export function encAddrSpace(sp: SpaceState): string {
  const s = sp.addresses.get(INDEX);
  const ranges = sp.ranges.map((r) => `${r.from}-${r.to}@${b(r.ballot)}`).join(",");
  const t = sp.trimMark > 0 ? `t${sp.trimMark}` : "";
  if (!s) return `${t}${ranges}_`;
  return `${t}${ranges}${b(s.promised)}${s.accepted ? `/${b(s.accepted.ballot)}=${hex(s.accepted.value)}` : ""}${s.committed ? "!" : ""}`;
}
/** The state as storage rebuilds it: commit flags are in-memory hints (paxos/acceptor.ts commit). */
export const encDurablePart = (sp: SpaceState): string => encAddrSpace(sp).replace("!", "");

export function encRequest(r: Request): string {
  switch (r.kind) {
    case "prepare":
      return `P${b(r.ballot)}`;
    case "accept":
      return `A${b(r.ballot)}=${r.entries.map((e) => hex(e.value)).join(",")}`;
    case "commit":
      return `C${b(r.ballot)}`;
    case "read":
      return "R";
    default:
      return r.kind;
  }
}
export const encReported = (a: { promised: Ballot; accepted?: { ballot: Ballot; value: Uint8Array }; committed: boolean }) =>
  `${b(a.promised)}${a.accepted ? `/${b(a.accepted.ballot)}=${hex(a.accepted.value)}` : ""}${a.committed ? "!" : ""}`;
export function encReply(r: Reply): string {
  switch (r.kind) {
    case "promise":
      return `p${b(r.ballot)}[${r.accepted.map(encReported).join(",")}]`;
    case "prepareRejected":
      return `j${b(r.promised)}`;
    case "voted":
      return `v${b(r.ballot)}[${r.refused.map((x) => `${b(x.promised)}${x.trimmed ? "t" : ""}${x.chosen ? `=${hex(x.chosen)}` : ""}`).join(",")}]`;
    case "states":
      return `s${r.trimMark}[${r.addresses.map(encReported).join(",")}]`;
    case "committed":
      return "c";
    default:
      return r.kind;
  }
}
export const encMsg = (m: Msg, perm: readonly number[]): string =>
  m.kind === "req" ? `>${m.from}${perm[m.to]}#${m.tag}${m.code}` : `<${perm[m.from]}${m.to}#${m.tag}${m.code}`;
export const encVotes = (log: VoteLog): string => [...log.keys()].sort().join(",");
export const accCodes = new WeakMap<Acc, string>();
export function encAcc(a: Acc): string {
  let code = accCodes.get(a);
  if (code === undefined) {
    const d = encAddrSpace(a.durable);
    const vol = encAddrSpace(a.volatile);
    const v = vol !== d || a.volVotes !== a.votes ? `~${vol}<${encVotes(a.volVotes)}>` : "";
    code = `${d}<${encVotes(a.votes)}>${v}{${a.held.map((h) => `${h.to}#${h.tag}${h.code}`).join(";")}}`;
    accCodes.set(a, code);
  }
  return code;
}
export function encProp(p: Prop, perm: readonly number[]): string {
  const replies = p.replies.map(([a, , code]) => `${perm[a]}:${code}`).sort();
  return `${p.phase}${p.attempt}${b(p.seen)}@${b(p.ballot)}#${p.tag}${p.proposing ? `=${hex(p.proposing)}` : ""}(${replies.join(";")})${p.outcome ?? ""}`;
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

// ---- One-space acceptor states. ----
export const wrap = (sp: SpaceState): AcceptorState => ({ spaces: new Map([[SPACE, sp]]) });
export const cloneSpace = (sp: SpaceState): SpaceState => ({ trimMark: sp.trimMark, ranges: [...sp.ranges], addresses: new Map(sp.addresses) });

/** Rebuild a durable state from persisted mutations, as a restarting node does. */
export const rebuild = (durable: SpaceState, mutations: readonly Mutation[]): SpaceState => {
  const st = wrap(cloneSpace(durable));
  for (const m of mutations) applyMutation(st, m);
  return st.spaces.get(SPACE)!;
};

export function dedupeValues(vs: readonly Uint8Array[]): readonly Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const v of vs) seen.set(hex(v), v);
  return seen.size === vs.length ? vs : [...seen.values()];
}
