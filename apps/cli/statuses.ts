/**
 * What the acceptors say about themselves (their Status: identity, and per space the trim mark and
 * the highest accepted index), asked of each directly, for `worm inspect` and `worm space list`:
 * the user spaces any of them holds, each space's trim mark and the segments it uses, and the
 * failure when fewer than a quorum answered.
 */
import { allocSpaceOf, isUserSpaceName } from "../../paxos/limits.ts";
import { noQuorumMessage } from "../../wor/core/account.ts";
import type { RoundAccount } from "../../wor/core/results.ts";
import { AdminClient } from "../../wor/node/admin-client.ts";
import { shortReason } from "../../wor/node/grpc-reason.ts";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { type Target, acceptorName } from "./cluster.ts";
import { operational, toFailure, usage } from "./errors.ts";

export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export async function settle<T>(p: Promise<T>): Promise<Answer<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, error: shortReason(toFailure(e).message) };
  }
}

/** `f` over `items`, at most `inFlightMax` at once; results in the items' order. */
export async function mapInFlight<T, R>(items: readonly T[], inFlightMax: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < items.length; k = next++) out[k] = await f(items[k]!);
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, items.length) }, worker));
  return out;
}

export async function eachAcceptor<T>(target: Target, f: (admin: AdminClient) => Promise<T>): Promise<Answer<T>[]> {
  return Promise.all(
    target.addresses.map(async (address) => {
      const admin = new AdminClient(address, { ...target.security, deadlineMs: target.timeoutMs });
      try {
        return await settle(f(admin));
      } finally {
        admin.close();
      }
    }),
  );
}

/** Every acceptor's status; fails when none answered (saying so when they all belong to another cluster). */
export async function acceptorStatuses(target: Target): Promise<Answer<AcceptorStatus>[]> {
  const statuses = await eachAcceptor(target, (a) => a.status());
  if (statuses.some((s) => s.ok)) return statuses;
  // Every acceptor refused the cluster file's cluster id: the file is the wrong one.
  const foreign = statuses.map((s) => (s.ok ? undefined : /belongs to cluster (\S+), not (\S+?)$/.exec(s.error)));
  if (foreign.every((m) => m)) {
    const [, theirs, ours] = foreign[0]!;
    throw usage(`acceptors ${target.addresses.join(", ")} belong to cluster ${theirs}, not ${ours}: check --cluster`);
  }
  throw operational(`no acceptor answered: ${statuses.map((s, k) => `${target.addresses[k]} (${s.ok ? "" : s.error})`).join(", ")}`);
}

export const answered = <T>(answers: readonly Answer<T>[]): T[] => answers.flatMap((s) => (s.ok ? [s.value] : []));

/** The user spaces any of these acceptors holds, sorted. */
export const userSpacesOf = (live: readonly AcceptorStatus[]): string[] => [...new Set(live.flatMap((s) => s.spaces.map((x) => x.name)).filter(isUserSpaceName))].sort();

/** A space's trim mark (the highest any acceptor that answered holds) and the segments it uses:
 *  from the trim mark's to the highest holding data or an allocation (last -1: none). */
export function segmentSpan(live: readonly AcceptorStatus[], space: string, segmentSize: number): { readonly trimMark: number; readonly first: number; readonly last: number } {
  let highest = -1;
  let trimMark = 0;
  let allocHighest = -1;
  for (const s of live) {
    for (const x of s.spaces) {
      if (x.name === space) {
        highest = Math.max(highest, x.highestAccepted);
        trimMark = Math.max(trimMark, x.trimMark);
      } else if (x.name === allocSpaceOf(space)) allocHighest = Math.max(allocHighest, x.highestAccepted);
    }
  }
  const last = Math.max(highest < 0 ? -1 : Math.floor(highest / segmentSize), allocHighest);
  return { trimMark, first: Math.floor(trimMark / segmentSize), last };
}

/** After printing what the acceptors that answered hold: exit 1 when fewer than a quorum answered. */
export function failShortOfQuorum(target: Target, statuses: readonly Answer<AcceptorStatus>[], round: string): void {
  if (statuses.filter((s) => s.ok).length >= target.quorum) return;
  const account: RoundAccount = {
    round,
    acceptors: target.addresses.length,
    quorum: target.quorum,
    answered: statuses.flatMap((s, acceptor) => (s.ok ? [{ acceptor, verdict: { kind: "reported" } as const }] : [])),
    unreachable: statuses.flatMap((s, acceptor) => (s.ok ? [] : [{ acceptor, reason: s.error }])),
    silent: [],
  };
  throw operational(noQuorumMessage(account, acceptorName(target)));
}
