/**
 * The KV's invariants (docs/ARCHITECTURE.md §4.5), checked against a replay of each partition's log:
 *
 * 1. **Answers follow the log** (`answerProblem`): the result a server gave for the transaction at
 *    position p of a partition's log is the result of applying that log, in order, up to p. A server
 *    that answered from a state missing an entry, or holding one twice, is caught.
 * 2. **Shards hold the log** (`stateProblem`): a shard that says it applied the log up to p holds
 *    exactly the records the replay holds at p, at the same revision.
 * 3. **Revisions never go back** : a shard's revision never decreases as its position grows.
 * 4. **A moved partition's old node changes nothing**: once the log holds an owner entry of map epoch
 *    e, the replay applies no batch or commit entry of an epoch below e after it; a shard that did,
 *    or a node that answered for one, is caught by 1 and 2.
 *
 * Linearizability of what clients saw is checked apart, by verify/spec/kv.ts. The observer is fed
 * by the tests and the simulator: the log's chosen entries (in any order), the answers and the
 * shards' states; each check runs once the log is known up to its position.
 */
import type { KvRecord, KvTxn, TxnResult } from "./commands.ts";
import type { KvEntry } from "./records.ts";
import { MemoryKv, applyTxn, compareBytes } from "./state.ts";

type Entries = readonly (readonly [string, KvRecord])[];

/** Why `got` is not the result `expected` (the replay's), or undefined. */
function answerProblem(expected: TxnResult, got: TxnResult): string | undefined {
  if (expected.succeeded !== got.succeeded) return `answered ${got.succeeded ? "succeeded" : "failed"}, the log says ${expected.succeeded ? "succeeded" : "failed"}`;
  if (expected.revision !== got.revision) return `answered revision ${got.revision}, the log says ${expected.revision}`;
  if (JSON.stringify(expected.responses, bytesAsText) !== JSON.stringify(got.responses, bytesAsText)) return "answered other op responses than the log's";
  return undefined;
}

/** Why `got` is not the state `expected` (the replay's), or undefined. */
function stateProblem(expected: { readonly revision: number; readonly entries: Entries }, got: { readonly revision: number; readonly entries: Entries }): string | undefined {
  if (expected.revision !== got.revision) return `holds revision ${got.revision}, the log says ${expected.revision}`;
  const want = new Map(expected.entries);
  const have = new Map(got.entries);
  for (const [key, r] of want) {
    const h = have.get(key);
    if (!h) return `lacks key ${JSON.stringify(key)}`;
    if (!sameRecord(r, h)) return `holds key ${JSON.stringify(key)} at modRevision ${h.modRevision} (version ${h.version}), the log says ${r.modRevision} (version ${r.version})`;
  }
  for (const key of have.keys()) if (!want.has(key)) return `holds key ${JSON.stringify(key)}, which the log does not`;
  return undefined;
}

const sameRecord = (a: KvRecord, b: KvRecord): boolean =>
  a.createRevision === b.createRevision && a.modRevision === b.modRevision && a.version === b.version && compareBytes(a.value, b.value) === 0;

const bytesAsText = (_: string, v: unknown): unknown => (v instanceof Uint8Array ? [...v] : v);

type Pending =
  /** An answer for the transaction at `position`, or (`key`: client#seq) for a batched one the node appended there. */
  | { readonly kind: "answer"; readonly position: number; readonly key?: string; readonly result: TxnResult; readonly who: string }
  | { readonly kind: "state"; readonly position: number; readonly revision: number; readonly entries: Entries; readonly who: string };

/** One partition's log as learned, its replay, and the checks waiting on it. */
class PartitionReplay {
  /** Position → the entry there (undefined: a fill, or an entry that is not the KV's). */
  readonly log = new Map<number, KvEntry | undefined>();
  readonly pending: Pending[] = [];
  /** The replay: the state having applied positions below `at`, and each position's result. */
  private store = new MemoryKv();
  private revision = 0;
  private at = 0;
  private readonly results = new Map<number, TxnResult>();
  /** Transactions across partitions whose commit entry the replay applied: a second one is not. */
  private committed = new Set<number>();
  /** Batched transactions applied ("client#seq" → result): a second one is not; nor one below its
   *  client's floor (the highest `ackedBelow` it sent). */
  private keyed = new Map<string, TxnResult>();
  private floors = new Map<string, number>();
  /** The highest map epoch of an owner entry replayed. */
  private epoch = 0;

  /** Apply every known position in order; whether the log is known below `position + 1`. */
  advanceTo(position: number): boolean {
    while (this.at <= position) {
      if (!this.log.has(this.at)) return false;
      const entry = this.log.get(this.at);
      if (entry?.kind === "owner") this.epoch = Math.max(this.epoch, entry.owner.epoch);
      else if (entry && (entry.kind === "txn" ? 0 : entry.epoch) < this.epoch) {
        // An entry of a superseded map epoch: nothing.
      } else if (entry?.kind === "txn") this.results.set(this.at, this.apply(entry.txn));
      else if (entry?.kind === "commit" && !this.committed.has(entry.commit.txn)) {
        this.committed.add(entry.commit.txn);
        this.results.set(this.at, this.apply({ compares: [], success: entry.commit.ops, failure: [] }));
      } else if (entry?.kind === "batch") {
        for (const p of entry.proposals) {
          const key = `${p.client}#${p.seq}`;
          if (this.keyed.has(key) || p.seq < (this.floors.get(p.client) ?? 0)) continue;
          this.keyed.set(key, this.apply(p.txn));
          this.floors.set(p.client, Math.max(this.floors.get(p.client) ?? 0, p.ackedBelow));
        }
      }
      this.at++;
    }
    return true;
  }

  private apply(txn: KvTxn): TxnResult {
    const r = applyTxn(this.store, this.revision, txn);
    this.revision = r.revision;
    return r;
  }

  /** The result of the batched transaction `key` (client#seq), once applied. */
  resultOf(key: string): TxnResult | undefined {
    return this.keyed.get(key);
  }

  resultAt(position: number): TxnResult | undefined {
    return this.results.get(position);
  }

  /** The replay's state after `position` (replayed again from the start when it is past it). */
  stateAfter(position: number): { revision: number; entries: Entries } {
    if (this.at > position + 1) {
      this.store = new MemoryKv();
      this.revision = 0;
      this.at = 0;
      this.committed = new Set();
      this.keyed = new Map();
      this.floors = new Map();
      this.epoch = 0;
    }
    this.advanceTo(position);
    return { revision: this.revision, entries: this.store.entries() };
  }
}

export class KvObserver {
  readonly violations: string[] = [];
  private readonly partitions = new Map<number, PartitionReplay>();
  /** Each shard's last revision and position, by "partition/shard". */
  private readonly shards = new Map<string, { position: number; revision: number }>();

  /** The entry chosen at `position` of partition `partition`'s log: a transaction, a commit entry of
   *  one across partitions (applied once: a second entry of it is not), a batch (each transaction
   *  once by its key), or undefined (none of them). */
  logged(partition: number, position: number, txn: KvEntry | undefined): void {
    const p = this.partition(partition);
    if (p.log.has(position)) return;
    p.log.set(position, txn);
    this.settle(partition, p);
  }

  /** A server answered `result` for the transaction at `position`; for a batched one (`key`:
   *  its client and seq), the transaction of that key in the batch it appended at `position`. */
  answered(partition: number, position: number, result: TxnResult, who = "a server", key?: { readonly client: string; readonly seq: number }): void {
    const p = this.partition(partition);
    p.pending.push({ kind: "answer", position, result, who, ...(key ? { key: `${key.client}#${key.seq}` } : {}) });
    this.settle(partition, p);
  }

  /** Shard `shard` of `partition` has applied the log up to `position` and holds `entries` at `revision`. */
  shardHolds(partition: number, shard: string, position: number, revision: number, entries: Entries): void {
    const id = `${partition}/${shard}`;
    const last = this.shards.get(id);
    if (last && position >= last.position && revision < last.revision) {
      this.violations.push(`shard ${id}: revision went back from ${last.revision} to ${revision} (position ${last.position} → ${position})`);
    }
    this.shards.set(id, { position, revision });
    const p = this.partition(partition);
    p.pending.push({ kind: "state", position, revision, entries, who: `shard ${id}` });
    this.settle(partition, p);
  }

  /** Checks still waiting for log positions nobody reported (at the end of a run: none should be). */
  waiting(): number {
    return [...this.partitions.values()].reduce((n, p) => n + p.pending.length, 0);
  }

  private partition(id: number): PartitionReplay {
    let p = this.partitions.get(id);
    if (!p) this.partitions.set(id, (p = new PartitionReplay()));
    return p;
  }

  /** Run the checks whose position the log is now known up to, lowest first. */
  private settle(id: number, p: PartitionReplay): void {
    p.pending.sort((a, b) => a.position - b.position);
    while (p.pending.length > 0) {
      const next = p.pending[0]!;
      if (!p.advanceTo(next.position)) return;
      p.pending.shift();
      if (next.kind === "answer") {
        const expected = next.key !== undefined ? p.resultOf(next.key) : p.resultAt(next.position);
        const problem = expected ? answerProblem(expected, next.result) : next.key !== undefined ? `answered ${next.key}, which the log below ${next.position + 1} did not apply` : "answered for a position that holds no KV transaction";
        if (problem) this.violations.push(`partition ${id}, position ${next.position}: ${next.who} ${problem}`);
      } else {
        const problem = stateProblem(p.stateAfter(next.position), next);
        if (problem) this.violations.push(`partition ${id}, position ${next.position}: ${next.who} ${problem}`);
      }
    }
  }
}
