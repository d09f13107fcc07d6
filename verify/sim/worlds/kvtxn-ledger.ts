/**
 * The invariants of KV transactions across partitions (docs/ARCHITECTURE.md §4.5, §4.3; the world of
 * worlds/kvtxn.ts), judged against the outcome the chosen votes imply (a function the world gives:
 * the `TxnObserver`'s, apps/txn/core/invariants.ts). Pure, and usable from unit tests
 * (test/verify/sim-kvtxn.test.ts feeds it by hand):
 *  1. a partition's log holds a commit entry only of a transaction its votes committed, and holding
 *     exactly that partition's part's ops (`landed`);
 *  2. a shard applies a committed transaction's part once: it applies a commit entry only if no
 *     entry of that transaction lies below it in the log (`applied`; later entries it skips), and
 *     never one of a superseded map epoch (below an owner entry of a newer one, `owner`: appended by
 *     a node the partition moved from, it counts for nothing);
 *  3. every committed part that writes is applied in the end (`unapplied`): a commit entry of it
 *     that counts lies within what the shard applied;
 *  4. the bank's money: no balance is ever negative or not a number (`balanceProblem`), an audit
 *     that committed saw the opening total, and so does the end (`totalProblem`).
 */
import type { KvRecord, KvTxn } from "../../../apps/kv/core/commands.ts";
import { type KvCommit, encodeTxn } from "../../../apps/kv/core/records.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { bytesEqual } from "../../runtime/bytes.ts";

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** A balance as a KV value: its decimal digits. */
export const balanceValue = (n: number): Uint8Array => utf8.encode(String(n));

/** The balance a KV value holds, or undefined when it holds none (not decimal digits). */
export function balanceOf(value: Uint8Array): number | undefined {
  const s = utf8d.decode(value);
  return /^(0|[1-9]\d*)$/.test(s) ? Number(s) : undefined;
}

/** Why the record `key` holds is not a balance (negative, not a number), or undefined. */
export function balanceProblem(where: string, key: string, record: KvRecord | undefined): string | undefined {
  if (!record) return `${where}: account ${key} is gone`;
  return balanceOf(record.value) === undefined ? `${where}: account ${key} holds ${JSON.stringify(utf8d.decode(record.value))}, not a balance (negative, or not a number)` : undefined;
}

/** Why `total` (of `what`) is not the `opening` total, or undefined. */
export const totalProblem = (what: string, total: number, opening: number): string | undefined =>
  total === opening ? undefined : `${what} ${total}, not the ${opening} the bank opened with`;

/** The ops of a commit entry, as bytes (two entries hold the same ops iff these are equal). */
const opsBytes = (ops: KvTxn["success"]): Uint8Array => encodeTxn({ compares: [], success: ops, failure: [] });

/** A commit entry that counts for nothing: of map epoch `epoch`, below which an owner entry of `owner` lay. */
interface Superseded {
  readonly txn: number;
  readonly epoch: number;
  readonly owner: number;
}

export class CommitLedger {
  /** Each transaction's parts, by partition. */
  private readonly parts = new Map<number, ReadonlyMap<number, KvTxn>>();
  /** Each partition's commit entries that count: transaction → its positions in the log, in order. */
  private readonly entries = new Map<number, Map<number, number[]>>();
  /** Each partition's owner epoch so far (its newest owner entry's). */
  private readonly epochs = new Map<number, number>();
  /** Each partition's commit entries of a superseded map epoch, by position. */
  private readonly superseded = new Map<number, Map<number, Superseded>>();

  constructor(
    /** The outcome the chosen votes of a transaction imply (undefined: undecided yet). */
    private readonly outcome: (txn: number) => Outcome | undefined,
  ) {}

  /** Transaction `txn` started: its part at each partition. */
  started(txn: number, parts: ReadonlyMap<number, KvTxn>): void {
    this.parts.set(txn, parts);
  }

  /** An owner entry of map epoch `epoch` landed in `partition`'s log (entries land in order). */
  owner(partition: number, epoch: number): void {
    this.epochs.set(partition, Math.max(epoch, this.epochs.get(partition) ?? 0));
  }

  /** A commit entry appended under map epoch `epoch` landed at `position` of `partition`'s log: it
   *  counts unless an owner entry of a newer epoch lies below it. */
  landed(partition: number, position: number, commit: KvCommit, epoch = 0): string[] {
    const owner = this.epochs.get(partition) ?? 0;
    if (epoch < owner) {
      let old = this.superseded.get(partition);
      if (!old) this.superseded.set(partition, (old = new Map()));
      old.set(position, { txn: commit.txn, epoch, owner });
    } else {
      let log = this.entries.get(partition);
      if (!log) this.entries.set(partition, (log = new Map()));
      log.set(commit.txn, [...(log.get(commit.txn) ?? []), position]);
    }
    const where = `partition ${partition}, position ${position}: a commit entry of transaction ${commit.txn}`;
    const outcome = this.outcome(commit.txn);
    if (outcome !== "committed") return [`${where}, whose votes ${outcome === "aborted" ? "aborted it" : "have not committed it"}`];
    const part = this.parts.get(commit.txn)?.get(partition);
    if (!part) return [`${where}, which has no part there`];
    return bytesEqual(opsBytes(commit.ops), opsBytes(part.success)) ? [] : [`${where} holds other ops than its part's`];
  }

  /** The shard of `partition` applied the commit entry of `txn` at `position`. */
  applied(partition: number, position: number, txn: number): string[] {
    const old = this.superseded.get(partition)?.get(position);
    if (old) return [`partition ${partition}, position ${position}: applied the commit entry of transaction ${txn} appended under map epoch ${old.epoch}, superseded by the owner entry of epoch ${old.owner} below it`];
    const at = this.entries.get(partition)?.get(txn) ?? [];
    const first = at[0];
    if (first === undefined) return [`partition ${partition}, position ${position}: applied a commit entry of transaction ${txn} that never landed`];
    if (first < position) return [`partition ${partition}, position ${position}: applied transaction ${txn} again (its commit entry at position ${first} was applied before)`];
    return this.outcome(txn) === "committed" ? [] : [`partition ${partition}, position ${position}: applied transaction ${txn}, which its votes did not commit`];
  }

  /** Committed transactions whose part at `partition` writes and is not applied by position `applied`. */
  unapplied(partition: number, applied: number): string[] {
    const bad: string[] = [];
    for (const [txn, parts] of this.parts) {
      const part = parts.get(partition);
      if (!part || part.success.length === 0 || this.outcome(txn) !== "committed") continue;
      const first = this.entries.get(partition)?.get(txn)?.[0];
      if (first !== undefined && first <= applied) continue;
      const none = [...(this.superseded.get(partition)?.values() ?? [])].some((e) => e.txn === txn) ? "only commit entries of a superseded map epoch landed" : "no commit entry landed";
      bad.push(`partition ${partition} never applied committed transaction ${txn} (${first === undefined ? none : `its entry at ${first} is past ${applied}`})`);
    }
    return bad;
  }
}
