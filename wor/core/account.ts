/**
 * A failed round's account in words (docs/ARCHITECTURE.md §3.1: failures say what happened):
 * "no quorum for prepare of demo[0, 1280): 2 of 3 acceptors answered (1 promised, 1 rejected:
 * promised 3.1234), acceptor 3 unreachable (connection refused)". Acceptors are named by `name`
 * (default "acceptor N", counting from 1); the CLI names them by id and address.
 */
import { formatBallot } from "../../paxos/ballot.ts";
import type { Verdict } from "../../paxos/proposer.ts";
import type { RoundAccount } from "./results.ts";

export type NameAcceptor = (acceptor: number) => string;

const acceptorNumber: NameAcceptor = (a) => `acceptor ${a + 1}`;

/** The words for one kind of answer, given every answer of that kind. */
const WORDS: Record<Verdict["kind"], (vs: readonly Verdict[]) => string> = {
  promised: (vs) => `${vs.length} promised`,
  voted: (vs) => `${vs.length} voted`,
  reported: (vs) => `${vs.length} reported`,
  acknowledged: (vs) => `${vs.length} acknowledged`,
  rejected: (vs) => `${vs.length} rejected: promised ${distinct(vs.map((v) => (v.kind === "rejected" ? formatBallot(v.promised) : "")))}`,
  trimmed: (vs) => `${vs.length} trimmed (mark ${distinct(vs.map((v) => (v.kind === "trimmed" ? String(v.mark) : "")))})`,
  stale: (vs) => `${vs.length} answered for another ballot`,
  error: (vs) => `${vs.length} failed (${distinct(vs.map((v) => (v.kind === "error" ? `${v.code}: ${v.message}` : "")))})`,
};

const distinct = (xs: readonly string[]): string => [...new Set(xs)].join(", ");

/** "2 of 3 acceptors answered (…), acceptor 3 unreachable (…), acceptor 1 did not answer within 3000 ms"
 *  (or "had not answered yet" when the round was decided before its deadline). */
function describeAccount(a: RoundAccount, name: NameAcceptor = acceptorNumber): string {
  const byKind = new Map<Verdict["kind"], Verdict[]>();
  for (const { verdict } of a.answered) {
    const list = byKind.get(verdict.kind) ?? [];
    list.push(verdict);
    byKind.set(verdict.kind, list);
  }
  const said = [...byKind].map(([kind, vs]) => WORDS[kind](vs));
  const parts = [`${a.answered.length} of ${a.acceptors} acceptors answered${said.length > 0 ? ` (${said.join(", ")})` : ""}`];
  const byReason = new Map<string, number[]>();
  for (const u of a.unreachable) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.acceptor]);
  for (const [reason, who] of byReason) parts.push(`${who.map(name).join(", ")} unreachable (${reason})`);
  if (a.silent.length > 0) {
    const who = a.silent.map(name).join(", ");
    parts.push(a.timedOutAfterMs !== undefined ? `${who} did not answer within ${a.timedOutAfterMs} ms` : `${who} had not answered yet`);
  }
  return parts.join(", ");
}

/** The message of a round that found no quorum. */
export const noQuorumMessage = (a: RoundAccount, name: NameAcceptor = acceptorNumber): string => `no quorum for ${a.round}: ${describeAccount(a, name)}`;
