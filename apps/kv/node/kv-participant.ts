/**
 * A KV node's partition as a participant of transactions across partitions (docs/ARCHITECTURE.md
 * §4.5, §4.3): the transaction core over the partition's `PartitionBook` (../core/book.ts), in the
 * platform's participant shell (apps/txn/node/participant-shell.ts), served on the node's port.
 *
 * - **Prepare.** Reserve the part's keys (no waiting: taken keys are a NO), then, holding them, wait
 *   until the partition's state is current for them: no write of theirs still on its way (the key
 *   gate), and the shard has applied the log below its tail. Then the core votes: YES when every
 *   compare of the part holds. A wait that runs out gives up the keys and leaves the vote unknown.
 * - **Commit.** The part's ops go to the partition's log as a commit entry (../core/records.ts) under
 *   the key (`kv-commit`, txn), so a retry is stored once; the shard applies it once (it keeps the
 *   transactions committed from the scan start on). The locks are released once it is applied:
 *   reads and writes of those keys see the transaction whole.
 * - **Restart.** The shell's restart scan (from the scan start the shard keeps, carried by commit
 *   entries) decides every transaction an earlier life voted in; the commits among them are
 *   appended and applied before the node serves anything.
 */
import type { WorClient } from "../../../wor/node/client.ts";
import type { WormLog } from "../../log/node/log-client.ts";
import { type Decided, ParticipantCore } from "../../txn/core/participant.ts";
import type { Vote } from "../../txn/core/record.ts";
import type { PrepareRequest, TxnResult } from "../../txn/core/steps.ts";
import type { Participant } from "../../txn/node/participant.ts";
import { ParticipantShell, type ParticipantTimings } from "../../txn/node/participant-shell.ts";
import { PartitionBook } from "../core/book.ts";
import type { KvTxn } from "../core/commands.ts";
import { partKeys } from "../core/cross.ts";
import { encodeCommit } from "../core/records.ts";
import { timeoutSignal } from "../../../wor/node/deadlines.ts";
import { readPosition } from "../core/shard-state.ts";
import { KeyGate, type OnItsWay } from "./key-gate.ts";
import { kvTrace } from "./kv-trace.ts";
import type { KvShardStore } from "./shard-store.ts";

export interface KvParticipantOptions extends ParticipantTimings {
  /** Its name in transaction records (`participantName` of ../core/cross.ts). */
  readonly name: string;
  /** The KV's transaction space (of kind txn). */
  readonly space: string;
  readonly client: WorClient;
  readonly log: WormLog;
  readonly store: KvShardStore;
  /** The map epoch its node serves the partition under: its commit entries carry it. */
  readonly mapEpoch: number;
  /** Why its node no longer serves the partition (it moved: ./kv-owner.ts), or undefined: then it votes NO. */
  readonly superseded?: () => string | undefined;
  /** A prepare waits at most this long for the partition's state to be current (default 2 s). */
  readonly prepareWaitMs?: number;
}

/** The idempotency key's client half of every commit entry (each partition has a log of its own),
 *  per map epoch: a new owner's commit entry of a transaction is not a retry of the old one's (which
 *  counts for nothing past the new owner's entry, ../core/shard-state.ts). */
const commitClient = (mapEpoch: number): string => (mapEpoch === 0 ? "kv-commit" : `kv-commit@${mapEpoch}`);
const RETRY_MS = 100;

export class KvParticipant implements Participant {
  readonly name: string;
  readonly gate: KeyGate;
  private readonly book: PartitionBook;
  private readonly shell: ParticipantShell<KvTxn>;
  /** Commit entries being appended and applied, by transaction. */
  private readonly applying = new Map<number, Promise<void>>();
  private closed = false;

  private constructor(
    private readonly o: KvParticipantOptions,
    segmentSize: number,
  ) {
    this.name = o.name;
    this.book = new PartitionBook(
      (key) => o.store.get(key),
      (txn) => {
        kvTrace?.({ ev: "release", txn });
        this.gate.wake();
      },
      o.superseded,
    );
    this.gate = new KeyGate((range) => this.book.lockedIn(range));
    const core = new ParticipantCore(ParticipantShell.config({ name: o.name, space: o.space }, segmentSize), this.book, (d) => this.decided(d));
    this.shell = new ParticipantShell(core, { ...o, client: o.client });
  }

  /** Open the participant: the restart scan, then every commit it found applied. */
  static async open(o: KvParticipantOptions): Promise<KvParticipant> {
    const meta = await o.client.openSpace(o.space, "txn");
    const p = new KvParticipant(o, meta.segmentSize);
    try {
      kvTrace?.({ ev: "restart", scanFrom: o.store.scanFrom });
      await p.shell.restart(o.store.scanFrom);
      await p.flushed();
      kvTrace?.({ ev: "restarted", inDoubt: p.shell.inDoubt });
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  /** Keys locked now, and transactions in doubt. */
  get locks(): { readonly keys: number; readonly inDoubt: number } {
    return { keys: this.book.lockedKeys, inDoubt: this.shell.inDoubt.length };
  }

  async prepare(request: PrepareRequest): Promise<TxnResult<Vote>> {
    const part = this.book.decode(request.payload);
    const key = `${request.space}:${request.txn}`;
    // A node whose partition moved votes NO at once (the book says why): its shard waits for nothing more.
    if (part && request.space === this.o.space && this.o.superseded?.() === undefined) {
      const keys = partKeys(part);
      const reserved = this.book.reserve(key, keys);
      kvTrace?.({ ev: "prepare", txn: key, keys, reserved });
      if (reserved) {
        const wait = timeoutSignal(this.o.prepareWaitMs ?? 2_000);
        try {
          await this.current(keys, wait.signal);
        } catch (e) {
          this.book.unreserve(key);
          return { ok: false, failure: { code: "timeout", message: `participant ${this.name}: the partition's state for the transaction's keys is not current yet (${(e as Error).message})` } };
        } finally {
          wait.cancel();
        }
      }
    }
    try {
      const vote = await this.shell.prepare(request);
      kvTrace?.({ ev: "voted", txn: key, vote: vote.ok ? vote.value.kind : vote.failure.code });
      return vote;
    } finally {
      // Refused before the book was asked (another space, a vote by capture below the floor that
      // failed): no vote holds the keys.
      this.book.unreserve(key);
    }
  }

  commit(space: string, txn: number): Promise<void> {
    return this.shell.commit(space, txn);
  }

  abort(space: string, txn: number): Promise<void> {
    return this.shell.abort(space, txn);
  }

  /**
   * A write that went to the log and may not have landed (its append failed or was given up on):
   * its keys stay on their way until it cannot land any more, that is until its append settles and
   * the shard has applied the log below a tail read after that.
   */
  settleLater(way: OnItsWay, appending: Promise<unknown>): void {
    void (async () => {
      await appending.catch(() => undefined);
      while (!this.closed) {
        try {
          const tail = await this.o.log.tail();
          await this.o.store.whenApplied(readPosition(tail));
          break;
        } catch {
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
      this.gate.settled(way);
    })();
  }

  /** Every commit entry decided so far is applied. */
  async flushed(): Promise<void> {
    while (this.applying.size > 0) await Promise.all(this.applying.values());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.shell.close();
    this.gate.wake();
  }

  /** The partition's state is current for `keys`: none of their writes is on its way, and the shard
   *  has applied the log below its tail (writes of an earlier life, or not yet admitted here). */
  private async current(keys: readonly string[], signal: AbortSignal): Promise<void> {
    await this.gate.drained(keys, signal);
    const tail = await this.o.log.tail();
    await this.o.store.whenApplied(readPosition(tail), signal);
  }

  private decided(d: Decided<KvTxn>): void {
    kvTrace?.({ ev: "decided", txn: d.txn, outcome: d.outcome, scanFrom: d.scanFrom });
    this.book.forgetBelow(d.scanFrom);
    if (d.outcome !== "committed" || !d.part || d.part.success.length === 0) return;
    const key = `${this.o.space}:${d.txn}`;
    // The scan start a commit entry carries is below every commit of ours not applied yet (its own
    // included): the shard takes a commit entry below the scan start it holds for a repeat.
    const scanFrom = Math.min(d.scanFrom, d.txn, ...this.applying.keys());
    const done = this.apply(d.txn, d.part, scanFrom).finally(() => {
      if (this.applying.get(d.txn) === done) this.applying.delete(d.txn);
      this.book.release(key);
    });
    this.applying.set(d.txn, done);
  }

  /** Append the commit entry of `txn` (again, until it lands: the locks stay held) and wait until the
   *  shard has applied it. */
  private async apply(txn: number, part: KvTxn, scanFrom: number): Promise<void> {
    const entry = encodeCommit(this.o.mapEpoch, { txn, scanFrom, ops: part.success });
    while (!this.closed) {
      try {
        if (this.o.store.committed(txn)) return;
        const { slot } = await this.o.log.append(entry, { key: { client: commitClient(this.o.mapEpoch), seq: txn } });
        kvTrace?.({ ev: "commitEntry", txn, slot });
        await this.o.store.whenApplied(slot);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
