/**
 * Global (cross-acceptor) invariants of the register layer (docs/ARCHITECTURE.md §3.2), shared by the model
 * checker and the simulator. Pure functions over acceptor states plus a ghost record of what has
 * been chosen, read and acknowledged:
 *  - at most one value is chosen per address (chosen = a quorum of acceptors made a vote for the
 *    same ballot durable), and once chosen no other value ever is;
 *  - an acceptor's committed value is the chosen one;
 *  - a read that returned a value returned the chosen value (so it never sees another);
 *  - an acknowledged write's value is chosen and durable at a quorum: it survives any minority of
 *    crashes; so is an acknowledged trim's mark.
 * Depends only on paxos/ (not on wor/).
 */
import type { AcceptorState } from "../../paxos/acceptor.ts";
import { bytesEqual } from "../runtime/bytes.ts";
import { formatBallot } from "../../paxos/ballot.ts";
import type { Mutation } from "../../paxos/messages.ts";

export type AddrKey = string;
export const addrKey = (space: string, index: number): AddrKey => `${space}[${index}]`;

export const showValue = (v: Uint8Array): string => {
  let s = "";
  for (const b of v) s += b.toString(16).padStart(2, "0");
  return s.length > 0 ? s : "''";
};

/**
 * A ghost log of one acceptor's durable votes: every (address, ballot) it has accepted, with the
 * value. An acceptor's state keeps only its latest vote per address, but a vote superseded in the
 * same synced batch still counted (its voted reply went out after that batch was durable), so
 * "chosen" is computed over the votes ever made durable, not over the current states.
 */
export type VoteLog = ReadonlyMap<string, { readonly addr: AddrKey; readonly ballot: string; readonly value: Uint8Array }>;

export const EMPTY_VOTES: VoteLog = new Map();

/** Add the votes visible in `state` to `log` (returns `log` itself when nothing is new). */
export function recordVotes(log: VoteLog, state: AcceptorState): VoteLog {
  let next: Map<string, { addr: AddrKey; ballot: string; value: Uint8Array }> | undefined;
  for (const [name, space] of state.spaces) {
    for (const [index, s] of space.addresses) {
      if (!s.accepted) continue;
      const addr = addrKey(name, index);
      const ballot = formatBallot(s.accepted.ballot);
      const k = `${addr}@${ballot}`;
      if (log.has(k) || next?.has(k)) continue;
      next ??= new Map(log);
      next.set(k, { addr, ballot, value: s.accepted.value });
    }
  }
  return next ?? log;
}

/** Add the votes carried by durable mutations (a batch may trim away an address it also voted on). */
export function recordVotesFromMutations(log: VoteLog, mutations: readonly Mutation[]): VoteLog {
  let next: Map<string, { addr: AddrKey; ballot: string; value: Uint8Array }> | undefined;
  for (const m of mutations) {
    if (m.kind !== "address" || !m.state.accepted) continue;
    const addr = addrKey(m.space, m.index);
    const ballot = formatBallot(m.state.accepted.ballot);
    const k = `${addr}@${ballot}`;
    if (log.has(k) || next?.has(k)) continue;
    next ??= new Map(log);
    next.set(k, { addr, ballot, value: m.state.accepted.value });
  }
  return next ?? log;
}

/** Add every vote of `extra` to `log`. */
export function mergeVotes(log: VoteLog, extra: VoteLog): VoteLog {
  let next: Map<string, { addr: AddrKey; ballot: string; value: Uint8Array }> | undefined;
  for (const [k, v] of extra) {
    if (log.has(k)) continue;
    next ??= new Map(log);
    next.set(k, v);
  }
  return next ?? log;
}

/** The values chosen by these acceptors' durable votes: a quorum voted for one ballot. */
export function chosenIn(logs: readonly VoteLog[], quorum: number): { chosen: Map<AddrKey, Uint8Array>; violations: string[] } {
  const tally = new Map<string, { addr: AddrKey; ballot: string; value: Uint8Array; n: number }>();
  const violations: string[] = [];
  for (const log of logs) {
    for (const [k, v] of log) {
      const t = tally.get(k);
      if (!t) tally.set(k, { ...v, n: 1 });
      else {
        t.n++;
        if (!bytesEqual(t.value, v.value)) violations.push(`${v.addr}: two values accepted under ballot ${v.ballot}`);
      }
    }
  }
  const chosen = new Map<AddrKey, Uint8Array>();
  for (const t of tally.values()) {
    if (t.n < quorum) continue;
    const prev = chosen.get(t.addr);
    if (prev && !bytesEqual(prev, t.value)) violations.push(`${t.addr}: two values chosen: ${showValue(prev)} and ${showValue(t.value)}`);
    else chosen.set(t.addr, t.value);
  }
  return { chosen, violations };
}

/** The ghost: the value chosen at each address so far (never forgotten, even after trims). */
export type ChosenGhost = ReadonlyMap<AddrKey, Uint8Array>;

/**
 * Fold what the vote logs have chosen into the ghost. Returns the new ghost (the same object when
 * nothing new was chosen) and violations: a second value chosen at an address.
 */
export function observeChosen(ghost: ChosenGhost, logs: readonly VoteLog[], quorum: number): { ghost: ChosenGhost; violations: string[] } {
  const { chosen, violations } = chosenIn(logs, quorum);
  let next: Map<AddrKey, Uint8Array> | undefined;
  for (const [k, value] of chosen) {
    const prev = ghost.get(k);
    if (!prev) {
      next ??= new Map(ghost);
      next.set(k, value);
    } else if (!bytesEqual(prev, value)) {
      violations.push(`${k}: ${showValue(value)} chosen after ${showValue(prev)} was chosen`);
    }
  }
  return { ghost: next ?? ghost, violations };
}

/** Every committed flag (in any state the acceptor holds) marks the chosen value. */
export function checkCommitted(ghost: ChosenGhost, states: readonly AcceptorState[]): string[] {
  const out: string[] = [];
  states.forEach((st, a) => {
    for (const [name, space] of st.spaces) {
      for (const [index, s] of space.addresses) {
        if (!s.committed || !s.accepted) continue;
        const g = ghost.get(addrKey(name, index));
        if (!g || !bytesEqual(g, s.accepted.value)) {
          out.push(`acceptor ${a}: ${addrKey(name, index)} committed ${showValue(s.accepted.value)}, which is not chosen`);
        }
      }
    }
  });
  return out;
}

/** A read (or a capture that found a value) returned `value`: it must be the chosen value. */
export function checkReadValue(ghost: ChosenGhost, space: string, index: number, value: Uint8Array): string[] {
  const g = ghost.get(addrKey(space, index));
  if (!g) return [`read of ${addrKey(space, index)} returned ${showValue(value)}, but nothing is chosen there`];
  return bytesEqual(g, value) ? [] : [`read of ${addrKey(space, index)} returned ${showValue(value)}, but ${showValue(g)} is chosen`];
}

/**
 * An acknowledged write of `value` (ok, or alreadyWritten): the value is chosen, and a quorum of
 * durable states holds it (or is trimmed past it), so it survives any minority of crashes.
 */
export function checkAcked(ghost: ChosenGhost, durable: readonly AcceptorState[], quorum: number, space: string, index: number, value: Uint8Array): string[] {
  const out = checkReadValue(ghost, space, index, value).map((m) => m.replace(/^read/, "acknowledged write"));
  let holding = 0;
  for (const st of durable) {
    const sp = st.spaces.get(space);
    if (!sp) continue;
    const s = sp.addresses.get(index);
    if (index < sp.trimMark || (s?.accepted && bytesEqual(s.accepted.value, value))) holding++;
  }
  if (holding < quorum) out.push(`acknowledged write of ${showValue(value)} at ${addrKey(space, index)} is durable at only ${holding} acceptors`);
  return out;
}

/** A trim of `space` below `below` returned ok: a quorum of durable states holds a mark at least as
 *  high, so it survives any minority of crashes. */
export function checkTrimAcked(durable: readonly AcceptorState[], quorum: number, space: string, below: number): string[] {
  const holding = durable.filter((st) => (st.spaces.get(space)?.trimMark ?? 0) >= below).length;
  return holding >= quorum ? [] : [`acknowledged trim of ${space} below ${below} is durable at only ${holding} acceptors`];
}
