/**
 * What the client core gathers within one tick and sends at the flush (docs/ARCHITECTURE.md §3.3):
 * the accepts of several write operations under one (space, ballot), merged into one round within
 * the limits of one accept, and the commit notices of chosen addresses, one request per (space,
 * ballot) and chunk.
 */
import type { Ballot } from "../../paxos/ballot.ts";
import { LIMITS } from "../../paxos/limits.ts";
import type { Entry, Request, SpaceName } from "../../paxos/messages.ts";
import { CLIENT_LIMITS } from "./validate.ts";

/** Accept entries of one (space, ballot) that will leave as one round, and the ops waiting on it. */
export interface FormingBatch {
  readonly space: SpaceName;
  readonly ballot: Ballot;
  readonly entries: Entry[];
  readonly indexes: Set<number>;
  bytes: number;
  readonly participants: number[];
}

const key = (space: SpaceName, ballot: Ballot): string => `${space}\u0000${ballot.round}.${ballot.proposer}`;

export class AcceptBatches {
  private readonly forming = new Map<string, FormingBatch[]>();

  get size(): number {
    return this.forming.size;
  }

  /** Add a write op's entries to a batch forming for its (space, ballot): one with room for them,
   *  in entries and bytes, and none of their addresses yet. */
  join(op: number, space: SpaceName, ballot: Ballot, entries: readonly Entry[]): void {
    const k = key(space, ballot);
    let list = this.forming.get(k);
    if (!list) this.forming.set(k, (list = []));
    let bytes = 0;
    for (const e of entries) bytes += e.value.byteLength;
    const fits = (b: FormingBatch) =>
      b.entries.length + entries.length <= LIMITS.entriesMax && b.bytes + bytes <= CLIENT_LIMITS.acceptBytesMax && entries.every((e) => !b.indexes.has(e.index));
    let batch = list.find(fits);
    if (!batch) list.push((batch = { space, ballot, entries: [], indexes: new Set(), bytes: 0, participants: [] }));
    for (const e of entries) {
      batch.entries.push(e);
      batch.indexes.add(e.index);
    }
    batch.bytes += bytes;
    batch.participants.push(op);
  }

  /** Every batch formed so far, to send now. */
  take(): FormingBatch[] {
    const all = [...this.forming.values()].flat();
    this.forming.clear();
    return all;
  }
}

/** Commit notices (fire and forget): the addresses learned chosen at a ballot. */
export class CommitQueue {
  private readonly commits = new Map<string, { space: SpaceName; ballot: Ballot; indexes: number[] }>();
  /** When the oldest queued notice is due to go, whether or not anything else goes with it. */
  private dueAt: number | undefined;

  add(space: SpaceName, ballot: Ballot, indexes: readonly number[], dueAt: number): void {
    const k = key(space, ballot);
    const c = this.commits.get(k);
    if (c) c.indexes.push(...indexes);
    else this.commits.set(k, { space, ballot, indexes: [...indexes] });
    this.dueAt ??= dueAt;
  }

  /** When the queued notices must go (undefined: none queued). */
  get due(): number | undefined {
    return this.dueAt;
  }

  /** The commit requests to send now, each within LIMITS.entriesMax indexes. */
  take(): Request[] {
    const out: Request[] = [];
    for (const { space, ballot, indexes } of this.commits.values()) {
      for (let at = 0; at < indexes.length; at += LIMITS.entriesMax) out.push({ kind: "commit", space, ballot, indexes: indexes.slice(at, at + LIMITS.entriesMax) });
    }
    this.commits.clear();
    this.dueAt = undefined;
    return out;
  }
}
