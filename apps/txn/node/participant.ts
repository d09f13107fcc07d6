/**
 * What a coordinator asks of a participant (docs/ARCHITECTURE.md §4.3). Every call is idempotent: a
 * retried prepare gets the same vote, a second commit or abort changes nothing. The account store
 * (accounts.ts) is the in-repo one; the KV's partitions will be the next.
 */
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnResult } from "../core/steps.ts";
import type { ParticipantLink } from "./driver.ts";

export interface Participant {
  readonly name: string;
  /** Vote on `request` and cast the vote (write it at our address): the vote chosen there, or a
   *  failure (the vote is then unknown). */
  prepare(request: PrepareRequest): Promise<TxnResult<Vote>>;
  /** Transaction `txn` of `space` committed: apply it. */
  commit(space: string, txn: number): Promise<void>;
  /** Transaction `txn` of `space` aborted: release it. */
  abort(space: string, txn: number): Promise<void>;
}

/** Participants in this process, by name: given, or looked up at each call (a set that changes). */
export function localParticipants(participants: Iterable<Participant> | ((name: string) => Participant | undefined)): ParticipantLink {
  let find: (name: string) => Participant | undefined;
  if (typeof participants === "function") find = participants;
  else {
    const byName = new Map<string, Participant>();
    for (const p of participants) byName.set(p.name, p);
    find = (name) => byName.get(name);
  }
  return {
    prepare: (name, request) => {
      const p = find(name);
      return p ? p.prepare(request) : Promise.resolve({ ok: false, failure: { code: "unavailable", message: `no participant named ${name} here` } });
    },
    notify: (name, space, txn, outcome) => {
      const p = find(name);
      // A participant that fails to take the word learns the outcome from the votes anyway.
      if (p) (outcome === "committed" ? p.commit(space, txn) : p.abort(space, txn)).catch(() => undefined);
    },
  };
}
