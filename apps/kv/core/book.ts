/**
 * A partition as a participant of transactions across partitions (docs/ARCHITECTURE.md §4.5, §4.3):
 * the `Book` the transaction core (apps/txn/core/participant.ts) votes and decides with. Pure; the
 * KV node (apps/kv/node/kv-participant.ts) and the simulator run it.
 *
 * **Locks.** Each key of a part (./cross.ts) is locked, exclusively, from the prepare until the
 * transaction is decided and, on commit, until the partition has applied the part (the node
 * `release`s it then). Locking does not wait: a key locked by another transaction is a NO, so two
 * transactions never wait for each other. The node reserves a part's keys before its prepare
 * (`reserve`) and waits, holding them, until the writes already on their way to the log for those
 * keys are applied; writes and linearizable reads of a locked key wait for its release (`lockedIn`).
 *
 * **The vote.** YES when the part's keys were reserved for it and every compare of the part holds of
 * the partition's state (`read`); otherwise NO, saying why: a reason starting `compare` (the
 * transaction did not succeed) or `locked` (try again).
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import type { Outcome } from "../../txn/core/outcome.ts";
import type { Book, Decision } from "../../txn/core/participant.ts";
import type { KvRecord, KvTxn } from "./commands.ts";
import { crossTxnProblem, partKeys } from "./cross.ts";
import { type KeyRange, inRange } from "./keys.ts";
import { decodeTxn } from "./records.ts";
import { holds } from "./state.ts";

/** How a NO's reason starts: a compare failed (the transaction did not succeed), a key was locked,
 *  or the partition moved to another node (its map is stale: read it again). */
export const REFUSAL = Object.freeze({ compare: "compare", locked: "locked", moved: "moved" });

export class PartitionBook implements Book<KvTxn> {
  /** key → the transaction holding its lock. */
  private readonly locks = new Map<string, string>();
  /** transaction → the keys it locks. */
  private readonly held = new Map<string, readonly string[]>();
  /** Votes cast and not decided: asking again gives the same answer. */
  private readonly votes = new Map<string, { readonly part: KvTxn; readonly vote: true | string }>();
  private readonly decided = new Map<string, Outcome>();

  constructor(
    /** The partition's record at `key`, as applied now. */
    private readonly read: (key: string) => KvRecord | undefined,
    /** Transaction `txn`'s locks were released: waiters may go on. */
    private readonly released: (txn: string) => void = () => {},
    /** Why this partition's node no longer serves it (it moved), or undefined: every vote is then NO. */
    private readonly superseded: () => string | undefined = () => undefined,
  ) {}

  isDecided(key: string): boolean {
    return this.decided.has(key);
  }

  decode(payload: Uint8Array): KvTxn | undefined {
    const part = decodeTxn(payload);
    return part instanceof DecodeError || crossTxnProblem(part) !== undefined ? undefined : part;
  }

  /** Lock `keys` for transaction `txn`, all or none, without waiting: whether it holds them now. */
  reserve(txn: string, keys: readonly string[]): boolean {
    if (this.decided.has(txn)) return false;
    const mine = this.held.get(txn);
    if (mine) return keys.every((k) => mine.includes(k));
    if (keys.some((k) => this.locks.has(k))) return false;
    for (const k of keys) this.locks.set(k, txn);
    this.held.set(txn, keys);
    return true;
  }

  /** Give up `txn`'s reservation, unless it has voted (its locks are then the vote's). */
  unreserve(txn: string): void {
    if (!this.votes.has(txn) && !this.decided.has(txn)) this.release(txn);
  }

  /** A transaction holding a lock on a key of `range` (one of them), or undefined. */
  lockedIn(range: KeyRange): string | undefined {
    for (const [key, txn] of this.locks) if (inRange(key, range)) return txn;
    return undefined;
  }

  /** How many keys are locked now. */
  get lockedKeys(): number {
    return this.locks.size;
  }

  prepare(key: string, part: KvTxn | undefined): true | string | undefined {
    if (this.decided.has(key)) return undefined;
    const known = this.votes.get(key);
    if (known) return known.vote;
    const vote = part ? this.judge(key, part) : "no part: the payload is not a part of a transaction across partitions";
    if (vote !== true) this.release(key);
    this.votes.set(key, { part: part ?? { compares: [], success: [], failure: [] }, vote });
    return vote;
  }

  private judge(key: string, part: KvTxn): true | string {
    // PLANTED BUG (verify/runtime/planted.ts) when on: a node whose partition moved judges as if it had not.
    const moved = planted("voteWhenMoved") ? undefined : this.superseded();
    if (moved !== undefined) return `${REFUSAL.moved}: ${moved}`;
    // Only `reserve` locks: a prepare whose keys were not reserved for it (they were locked) is a NO,
    // even if they are free by now (their writes on the way were not waited for).
    const mine = this.held.get(key) ?? [];
    const missing = partKeys(part).find((k) => !mine.includes(k));
    if (missing !== undefined) return `${REFUSAL.locked}: ${JSON.stringify(missing)} is locked by another transaction`;
    const failed = part.compares.find((c) => !holds(c, this.read(c.key)));
    return failed ? `${REFUSAL.compare}: the compare of ${JSON.stringify(failed.key)}'s ${failed.target} does not hold` : true;
  }

  decide(key: string, outcome: Outcome, part?: KvTxn): Decision<KvTxn> | undefined {
    if (this.decided.has(key)) return undefined;
    const known = this.votes.get(key);
    this.votes.delete(key);
    this.decided.set(key, outcome);
    if (outcome === "aborted") {
      this.release(key);
      return { outcome };
    }
    assert(known === undefined || known.vote === true, () => `transaction ${key} committed though this partition voted NO`);
    const applied = known?.part ?? part;
    assert(applied !== undefined, () => `transaction ${key} committed and its part is unknown`);
    // Nothing to apply: the locks have done their work. PLANTED BUG (verify/runtime/planted.ts) when
    // on: released with something still to apply, before the part is applied.
    if (applied.success.length === 0 || planted("releaseAtDecide")) this.release(key);
    return { outcome, part: applied };
  }

  /** Release the locks of transaction `txn` (decided, and its part applied). */
  release(txn: string): void {
    const keys = this.held.get(txn);
    if (!keys) return;
    this.held.delete(txn);
    for (const k of keys) if (this.locks.get(k) === txn) this.locks.delete(k);
    this.released(txn);
  }

  /** Forget the decisions of transactions numbered below `txn` (keys `space:number`): no prepare
   *  below the participant's scan start is answered from them (it votes NO by capture). Not one
   *  whose locks are still held (committed, its part not applied yet): a late duplicate prepare of
   *  it would otherwise take them for its own reservation and give them up (`unreserve`) before the
   *  part is applied, and a write let through then is lost under it. */
  forgetBelow(txn: number): void {
    for (const key of this.decided.keys()) {
      // PLANTED BUG (verify/runtime/planted.ts) when on: a decision is forgotten with its locks still held.
      if (Number(key.slice(key.lastIndexOf(":") + 1)) < txn && (!this.held.has(key) || planted("forgetHeldDecision"))) this.decided.delete(key);
    }
  }
}
