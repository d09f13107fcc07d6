/**
 * A KV partition as a participant of transactions across partitions, inside the kvtxn world
 * (worlds/kvtxn.ts; docs/ARCHITECTURE.md §4.5, §4.3): what apps/kv/node/kv-participant.ts does on a
 * node, over the real cores: the participant core (worlds/txn-shell.ts) over the real
 * `PartitionBook`, whose reads are the real `KvShardState`'s.
 *
 * The partition's log is a durable list of entries on its simulated disk (the log is not under test
 * here): its first entry opens the accounts; an append lands at the end a few ms later (more when
 * buggified) and is never deduplicated (as past the log's dedupe window); an append may fail while
 * its entry is still on its way, to land later (the partition appends it again); one in flight when
 * its partition crashes lands or not. The shard applies the entries in order
 * (`KvShardState.write`) a few ms after they land; its image reaches the disk a few ms after each
 * apply, in order; a crash loses memory and what was not synced. A new life reloads the image, and
 * its player starts delivering the log's suffix a while later, while its restart scan runs from the
 * image's scan start (a node's participant opens while its player delivers); the commits the scan
 * decides are appended and applied before it serves.
 *
 * - **Prepare**: reserve the part's keys (`reserve`); if reserved, wait until every entry appended
 *   so far is applied (a wait that runs out gives the keys up and leaves the vote unknown), then vote.
 *   After the vote, a reservation the book never voted on is given up (`unreserveFailedVotes`, as
 *   the node does: a prepare below the core's floor votes NO by capture, and that capture may fail).
 * - **Commit** with ops: unless the shard has it committed, append the commit entry (again, until
 *   it lands), its scan start below every commit of this life not applied yet; wait until it is
 *   applied, then `release` the locks.
 */
import { PartitionBook } from "../../../apps/kv/core/book.ts";
import type { KvTxn } from "../../../apps/kv/core/commands.ts";
import { partKeys, participantName } from "../../../apps/kv/core/cross.ts";
import { decodeEntry, encodeCommit, encodeTxn } from "../../../apps/kv/core/records.ts";
import { EMPTY_KV_IMAGE, type KvImage, KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { type Decided, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import type { Vote } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest, TxnResult } from "../../../apps/txn/core/steps.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { SimProcess } from "../kernel/process.ts";
import { type KvStarted, openingTxn } from "./kvtxn-bank.ts";
import { type CommitLedger, balanceProblem } from "./kvtxn-ledger.ts";
import type { KvTxnWorldOptions } from "./kvtxn-options.ts";
import type { TxnHost } from "./txn-coordinator.ts";
import { SimShell } from "./txn-shell.ts";

/** What the partitions need from the world. */
export interface PartitionHost extends TxnHost<KvStarted> {
  readonly o: KvTxnWorldOptions;
  readonly ledger: CommitLedger;
  /** The participants' `slackBlocks` in this run. */
  readonly slackBlocks: number;
  /** `entry` is at `position` of partition `partition`'s log. */
  logged(partition: number, position: number, entry: Uint8Array): void;
  /** The shard of `partition` applied its log up to `state.applied`. */
  holds(partition: number, state: KvShardState): void;
}

/** An append on its way to the log. */
interface Append {
  /** The life that appended it. */
  readonly proc: SimProcess;
  readonly entry: Uint8Array;
  /** Lost with its partition's crash. */
  lost: boolean;
}

interface Waiter {
  readonly position: number;
  readonly ok: () => void;
}

export class SimPartition extends SimShell<KvTxn> {
  /** The log: durable as appended. */
  readonly log: Uint8Array[];
  /** The shard's image as of its last sync. */
  private image: KvImage = EMPTY_KV_IMAGE;
  /** The shard's state in memory, and the book over it (undefined while down). */
  state: KvShardState | undefined;
  book: PartitionBook | undefined;
  /** Appends on their way to the log (of any life). */
  private readonly appends = new Set<Append>();
  private waiters: Waiter[] = [];
  /** Transactions whose commit entry this life is appending and applying; `flushed` once there are none. */
  private applying = new Set<number>();
  private flushed: (() => void) | undefined;
  private delivering = false;
  private persistAt = 0;
  /** Transactions a commit entry was ever appended for (a ghost, for the probes). */
  private readonly appended = new Set<number>();

  constructor(
    private readonly kvh: PartitionHost,
    readonly id: number,
    readonly accounts: readonly string[],
  ) {
    super(kvh, participantName(id));
    // The log's first entry opens the accounts.
    this.log = [encodeTxn(openingTxn(accounts, kvh.o.balance))];
    kvh.logged(id, 0, this.log[0]!);
  }

  /** Where a restart scans from: the shard's, as its image left it (the log's suffix not applied yet). */
  protected get scanFrom(): number {
    return this.state?.scanFrom ?? this.image.scanFrom;
  }

  /** A balance as the partition holds it now (its memory; its image while down). */
  read(key: string): Uint8Array | undefined {
    return (this.state ? this.state.get(key) : new Map(this.image.entries).get(key))?.value;
  }

  protected boot(proc: SimProcess): ParticipantCore<KvTxn> {
    const state = new KvShardState(this.image);
    const book = new PartitionBook((key) => state.get(key));
    this.state = state;
    this.book = book;
    this.applying = new Set();
    this.flushed = undefined;
    this.delivering = false;
    this.waiters = [];
    // Its player starts delivering the log's suffix a while after the restart scan began.
    this.deliverSoon(proc, this.kvh.k.prng.int(this.kvh.o.playerStartMs));
    return new ParticipantCore(this.config(this.kvh.slackBlocks), book, (d) => this.decided(proc, book, d));
  }

  protected override restarted(_proc: SimProcess, serve: () => void): void {
    if (this.applying.size === 0) serve();
    else this.flushed = serve;
  }

  protected override lost(proc: SimProcess): void {
    this.state = undefined;
    this.book = undefined;
    this.waiters = [];
    for (const a of this.appends) if (a.proc === proc) a.lost = !this.kvh.k.prng.chance(this.kvh.o.faults.appendLandsAfterCrash);
  }

  /** Reserve the part's keys, and holding them wait until the state is current; then vote. */
  protected override admit(proc: SimProcess, req: PrepareRequest, vote: () => void, refuse: (r: TxnResult<Vote>) => void): void {
    const book = this.book!;
    const part = book.decode(req.payload);
    const key = `${req.space}:${req.txn}`;
    if (!part || req.space !== this.kvh.space || !book.reserve(key, partKeys(part))) vote();
    else {
      this.whenApplied(proc, this.log.length - 1, vote, this.kvh.o.prepareWaitMs, () => {
        book.unreserve(key);
        probe("kvtxn.prepare.waitedOut");
        refuse({ ok: false, failure: { code: "timeout", message: `participant ${this.name}: the partition's state is not current yet` } });
      });
    }
  }

  /** After a vote, no reservation of a part the book never voted on is kept (a prepare below the
   *  core's floor votes NO by capture, and a failed capture leaves the book unasked): without this,
   *  such keys stay locked. `unreserve` keeps a reservation the book voted on. */
  protected override voted(req: PrepareRequest, _r: TxnResult<Vote>): void {
    if (this.kvh.o.unreserveFailedVotes) this.book?.unreserve(`${req.space}:${req.txn}`);
  }

  private decided(proc: SimProcess, book: PartitionBook, d: Decided<KvTxn>): void {
    const h = this.kvh;
    h.k.record(`${proc.label} decided ${d.txn} ${d.outcome}${this.ready ? "" : " (restart)"}`);
    const started = h.registry.get(d.txn);
    if (started) h.k.check(h.observer.decided(String(d.txn), started.record.participants.length, `participant ${proc.label}`, d.outcome));
    book.forgetBelow(d.scanFrom);
    if (d.outcome === "committed" && d.part && d.part.success.length > 0) this.commit(proc, book, d.txn, d.part, d.scanFrom);
  }

  /** Append the commit entry of `txn` (again, until it lands), wait until it is applied, release its locks. */
  private commit(proc: SimProcess, book: PartitionBook, txn: number, part: KvTxn, scanFrom: number): void {
    const h = this.kvh;
    // The scan start a commit entry carries is below every commit of this life not applied yet (its own included).
    this.applying.add(txn);
    const entry = encodeCommit(0, { txn, scanFrom: Math.min(scanFrom, ...this.applying), ops: part.success });
    const done = () => {
      book.release(`${h.space}:${txn}`);
      this.applying.delete(txn);
      if (this.applying.size === 0 && this.flushed) {
        const serve = this.flushed;
        this.flushed = undefined;
        serve();
      }
    };
    const attempt = () => {
      if (proc !== this.proc) return;
      if (this.state!.committed(txn)) return done();
      if (!this.ready) probe(this.appended.has(txn) ? "kvtxn.restart.appendedAgain" : "kvtxn.restart.appended");
      this.appended.add(txn);
      this.append(proc, entry, (slot) => this.whenApplied(proc, slot, done), () => h.k.later(h.o.appendRetryMs, attempt));
    };
    attempt();
  }

  /** `entry` lands at the log's end a few ms from now (unless a crash loses it first), and `landed`
   *  hears where; or the append's answer is lost (`unanswered`, at once: it failed, its outcome
   *  unknown) while the entry is still on its way, to land a while later. */
  private append(proc: SimProcess, entry: Uint8Array, landed: (slot: number) => void, unanswered: () => void): void {
    const { k, o } = this.kvh;
    const a: Append = { proc, entry, lost: false };
    this.appends.add(a);
    const answerLost = !k.healed && k.prng.chance(o.faults.appendAnswerLoss);
    const ms = 1 + k.prng.int(o.appendMs) + (buggify("sim.kvtxn.slowAppend") ? 10 + k.prng.int(60) : 0);
    if (answerLost) {
      probe("kvtxn.append.answerLost");
      k.later(ms, () => proc === this.proc && unanswered());
    }
    k.later(ms + (answerLost ? k.prng.int(4 * o.appendRetryMs) : 0), () => {
      this.appends.delete(a);
      if (a.lost) return;
      const slot = this.log.push(entry) - 1;
      k.record(`${this.name} log ${slot} ← commit`);
      const c = decodeEntry(entry);
      if (!(c instanceof DecodeError) && c.kind === "commit") k.check(this.kvh.ledger.landed(this.id, slot, c.commit));
      this.kvh.logged(this.id, slot, entry);
      if (this.proc && this.state) this.deliverSoon(this.proc);
      if (proc === this.proc && !answerLost) landed(slot);
    });
  }

  /** `ok` once the shard applied `position` (now, if it has); `timedOut` if `ms` pass first; neither if we crash. */
  private whenApplied(proc: SimProcess, position: number, ok: () => void, ms?: number, timedOut?: () => void): void {
    if (this.state!.applied >= position) {
      ok();
      return;
    }
    const w: Waiter = { position, ok };
    this.waiters.push(w);
    if (ms === undefined) return;
    this.kvh.k.later(ms, () => {
      if (proc !== this.proc || !this.waiters.includes(w)) return;
      this.waiters = this.waiters.filter((x) => x !== w);
      timedOut?.();
    });
  }

  /** The shard applies what the log holds past its applied position, a few ms from now. */
  private deliverSoon(proc: SimProcess, laterMs = 0): void {
    const { k } = this.kvh;
    if (!this.state || this.delivering || this.state.applied >= this.log.length - 1) return;
    this.delivering = true;
    k.later(laterMs + 1 + k.prng.int(3) + (buggify("sim.kvtxn.slowShard") ? 10 + k.prng.int(40) : 0), () => {
      if (proc !== this.proc) return;
      this.delivering = false;
      this.deliver(proc, this.state!);
    });
  }

  /** Apply the log past the applied position, check what changed, sync the image a few ms later (in order). */
  private deliver(proc: SimProcess, state: KvShardState): void {
    const { k, ledger } = this.kvh;
    const from = state.applied + 1;
    const to = this.log.length - 1;
    const rows = this.log.slice(from).map((data, i) => ({ position: from + i, data }));
    const commits = new Set<number>();
    state.write(rows, to, (a) => {
      if (a.commit) {
        commits.add(a.position);
        k.check(ledger.applied(this.id, a.position, a.commit.txn));
      }
      for (const [key, record] of a.changes) {
        const problem = balanceProblem(`partition ${this.id}, position ${a.position}`, key, record);
        if (problem) k.check([problem]);
      }
    });
    for (const r of rows) {
      const e = decodeEntry(r.data);
      if (!(e instanceof DecodeError) && e.kind === "commit" && !commits.has(r.position)) probe("kvtxn.shard.commitSkipped");
    }
    k.record(`${this.name} applied ${from}..${to} r${state.revision}`);
    this.kvh.holds(this.id, state);
    const image = state.image();
    this.persistAt = Math.max(this.persistAt, k.now + 1 + k.prng.int(4));
    k.later(this.persistAt - k.now, () => {
      if (proc === this.proc) this.image = image;
    });
    const ready = this.waiters.filter((w) => w.position <= state.applied);
    this.waiters = this.waiters.filter((w) => w.position > state.applied);
    for (const w of ready) w.ok();
    if (proc === this.proc) this.deliverSoon(proc);
  }

  /** What must hold once the run has healed: everything appended applied, nothing held. */
  settled(): string[] {
    const bad: string[] = [];
    const state = this.state;
    if (!state) return [`${this.name} is down after the heal`];
    if (this.appends.size > 0) bad.push(`${this.name}: ${this.appends.size} appends still on their way after the heal`);
    if (state.applied !== this.log.length - 1) bad.push(`${this.name}: its shard applied its log up to ${state.applied}, not to its end ${this.log.length - 1}`);
    if (this.applying.size > 0) bad.push(`${this.name}: commits of ${[...this.applying].join(", ")} still being applied after the heal`);
    if ((this.book?.lockedKeys ?? 0) > 0) bad.push(`${this.name}: ${this.book!.lockedKeys} keys still locked after the heal`);
    return [...bad, ...this.kvh.ledger.unapplied(this.id, state.applied)];
  }
}
