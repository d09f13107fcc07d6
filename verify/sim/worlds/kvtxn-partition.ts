/**
 * A node serving a KV partition as a participant of transactions across partitions, inside the
 * kvtxn world (worlds/kvtxn.ts; docs/ARCHITECTURE.md §4.5, §4.3): what apps/kv/node/kv-participant.ts
 * and apps/kv/node/kv-owner.ts do on a node, over the real cores: the participant core
 * (worlds/txn-shell.ts) over the real `PartitionBook`, whose reads are the real `KvShardState`'s
 * (worlds/kvtxn-shard.ts, one per life, its image on the node's disk), over the partition's log
 * (worlds/kvtxn-log.ts), which the nodes of the partition share.
 *
 * - **Opening.** A new life reloads the image, and its player starts delivering the log's suffix a
 *   while later. The partition's first node (map epoch 0) runs its restart scan meanwhile, from the
 *   image's scan start (no higher than where the node, which catches up first, scans from). A node
 *   a move started (map epoch e > 0, worlds/kvtxn-move.ts) **claims** the partition first: its
 *   shard catches up with the log's tail and, unless the log names an owner of epoch e already, it
 *   appends its owner entry (again, until it lands) and waits until it is applied; then its restart
 *   scan runs, from the scan start its shard holds. The commits the scan decides are appended and
 *   applied before it serves.
 * - **Prepare**: a **superseded** node (its shard applied an owner entry of a newer map epoch than
 *   its own) lets the book vote at once (NO, `moved`). Else reserve the part's keys (`reserve`); if
 *   reserved, wait until the shard applied the log below a tail read now (a wait that runs out gives
 *   the keys up and leaves the vote unknown), then the book votes (NO if superseded by then).
 *   After the vote, a reservation the book never voted on is given up (`unreserveFailedVotes`, as
 *   the node does: a prepare below the core's floor votes NO by capture, and that capture may fail).
 * - **Commit** with ops: unless the shard has it committed, append the commit entry under the node's
 *   map epoch (again, until it lands), its scan start below every commit of this life not applied
 *   yet; wait until it is applied, then `release` the locks.
 * - **Zombie.** A move's old node goes on serving what reaches it (worlds/kvtxn-move.ts routes the
 *   messages of coordinators that have not heard of the move to it) until it is stopped; it never
 *   starts again. The partition's newest node passes them on.
 */
import { PartitionBook } from "../../../apps/kv/core/book.ts";
import type { KvTxn } from "../../../apps/kv/core/commands.ts";
import { partKeys, participantName } from "../../../apps/kv/core/cross.ts";
import { encodeCommit, encodeOwner, supersededBy } from "../../../apps/kv/core/records.ts";
import { EMPTY_KV_IMAGE, type KvShardState } from "../../../apps/kv/core/shard-state.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { type Decided, type ParticipantConfig, ParticipantCore } from "../../../apps/txn/core/participant.ts";
import type { Vote } from "../../../apps/txn/core/record.ts";
import type { PrepareRequest, TxnGen, TxnResult } from "../../../apps/txn/core/steps.ts";
import { sleep } from "../../../wor/core/steps.ts";
import { probe } from "../../runtime/probe.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { KvStarted } from "./kvtxn-bank.ts";
import type { CommitLedger } from "./kvtxn-ledger.ts";
import type { LogHost, PartitionLog } from "./kvtxn-log.ts";
import type { KvTxnWorldOptions } from "./kvtxn-options.ts";
import { LifeShard, type NodeDisk, type ShardHost } from "./kvtxn-shard.ts";
import type { TxnHost } from "./txn-coordinator.ts";
import { SimShell } from "./txn-shell.ts";

/** What the nodes need from the world. */
export interface PartitionHost extends TxnHost<KvStarted>, LogHost, ShardHost {
  readonly o: KvTxnWorldOptions;
  readonly ledger: CommitLedger;
  /** The participants' `slackBlocks` in this run. */
  readonly slackBlocks: number;
  /** Whether a message of transaction `txn` for partition `partition` goes to the node the partition
   *  moved from rather than to the one of map epoch `epoch` (its coordinator has not heard). */
  toOldNode(partition: number, epoch: number, txn: number): boolean;
  /** An old node of `partition` prepared `txn`, and its wait applied the owner entry that supersedes it. */
  supersededWhilePreparing(partition: number, txn: number): void;
}

/** How a move's old node is cut off at first: not at all; from its log (its player applies nothing,
 *  but it answers); or also from its clients (what is sent to it waits till it is back). Its own
 *  requests, to the acceptors and its log, go through either way. */
export type CutOff = "none" | "log" | "node";

/** How often a claiming node's restart scan looks whether the claim is done. */
const CLAIM_POLL_MS = 5;

/** The participant core of a node that claims its partition first: its restart scan, which the
 *  participant shell starts at once, waits for the claim, then scans from where the shard, caught up,
 *  says (apps/kv/node/kv-node.ts opens its participant once `claimPartition` is done). */
class ClaimingCore extends ParticipantCore<KvTxn> {
  constructor(
    cfg: ParticipantConfig,
    book: PartitionBook,
    decided: (d: Decided<KvTxn>) => void,
    /** The scan start once claimed; undefined before. */
    private readonly claimed: () => number | undefined,
  ) {
    super(cfg, book, decided);
  }

  override *restart(_scanFrom: number): TxnGen<TxnResult<void>> {
    for (;;) {
      const from = this.claimed();
      if (from !== undefined) return yield* super.restart(from);
      yield* sleep(CLAIM_POLL_MS);
    }
  }
}

export class SimPartition extends SimShell<KvTxn> {
  /** The shard's image as of its last sync. */
  private readonly disk: NodeDisk = { image: EMPTY_KV_IMAGE, persistAt: 0 };
  /** This life's shard, and the book over it (undefined while down). */
  private shard: LifeShard | undefined;
  book: PartitionBook | undefined;
  /** Transactions whose commit entry this life is appending and applying; `flushed` once there are none. */
  private applying = new Set<number>();
  private flushed: (() => void) | undefined;
  /** The node the partition moved from, while it may be a zombie: what reaches it is its. */
  previous: SimPartition | undefined;
  /** The partition moved on from this node: it is never started again. */
  private retired = false;
  /** How the node is cut off (an old node, as its partition moved), and what reached it meanwhile. */
  private cut: CutOff = "none";
  private readonly waiting: (() => void)[] = [];
  /** Runs each time a life of this node has claimed the partition. */
  onClaimed: (() => void) | undefined;
  /** Where this node's first restart scan ended (its scan start then: no vote of an earlier node
   *  above it was seen), and who waits for it. */
  private scanned: number | undefined;
  private readonly whenScanned: ((from: number) => void)[] = [];

  constructor(
    private readonly kvh: PartitionHost,
    readonly id: number,
    readonly accounts: readonly string[],
    readonly log: PartitionLog,
    /** The map epoch the node serves the partition under. */
    readonly epoch = 0,
    /** Its address, as the map of its epoch names it. */
    readonly node = `127.0.0.1:${7000 + id}`,
  ) {
    super(kvh, participantName(id));
    log.subscribe(() => this.shard?.deliverSoon());
  }

  /** Its shard's name in the checks (one per node). */
  get shardName(): string {
    return this.epoch === 0 ? "s" : `s@${this.epoch}`;
  }

  /** The shard's state in memory (undefined while down). */
  get state(): KvShardState | undefined {
    return this.shard?.state;
  }

  /** Where a restart scans from: the shard's, as its image left it (the log's suffix not applied yet). */
  protected get scanFrom(): number {
    return this.state?.scanFrom ?? this.disk.image.scanFrom;
  }

  /** A balance as the partition holds it now: as the node it moved from does till this one serves;
   *  else as this one holds it (its memory; its image while down). */
  read(key: string): Uint8Array | undefined {
    if (!this.ready && this.previous?.state) return this.previous.read(key);
    return (this.state ? this.state.get(key) : new Map(this.disk.image.entries).get(key))?.value;
  }

  /** Why this node no longer serves the partition (its shard applied a newer owner entry), or
   *  undefined: apps/kv/node/kv-owner.ts's `superseded`. */
  private superseded(state: KvShardState): string | undefined {
    return supersededBy(state.owner, this.id, this.epoch);
  }

  protected boot(proc: SimProcess): ParticipantCore<KvTxn> {
    const { k, o, slackBlocks } = this.kvh;
    const shard = new LifeShard(this.kvh, this.log, this.disk, this.shardName, () => this.cut !== "none");
    const book = new PartitionBook((key) => shard.state.get(key), undefined, () => this.superseded(shard.state));
    this.shard = shard;
    this.book = book;
    this.applying = new Set();
    this.flushed = undefined;
    // Its player starts delivering the log's suffix a while after the life began.
    shard.deliverSoon(k.prng.int(o.playerStartMs));
    const decided = (d: Decided<KvTxn>) => this.decided(proc, shard, book, d);
    if (this.epoch === 0) return new ParticipantCore(this.config(slackBlocks), book, decided);
    let claimed = false;
    this.claim(proc, shard, () => (claimed = true));
    return new ClaimingCore(this.config(slackBlocks), book, decided, () => (claimed ? shard.state.scanFrom : undefined));
  }

  override spawn(): void {
    if (!this.retired) super.spawn();
  }

  protected override restarted(_proc: SimProcess, serve: () => void): void {
    if (this.scanned === undefined) {
      this.scanned = this.core!.scanFrom;
      for (const f of this.whenScanned.splice(0)) f(this.scanned);
    }
    if (this.applying.size === 0) serve();
    else this.flushed = serve;
  }

  protected override lost(proc: SimProcess): void {
    this.shard?.stop();
    this.shard = undefined;
    this.book = undefined;
    this.log.lost(proc);
  }

  /** The node a message of transaction `txn` addressed to the partition reaches: the old node if its
   *  coordinator has not heard of the move (nobody, if that one stopped: never this one, which would
   *  then owner-write a vote address the old one may have written), else this one. */
  private reached(txn: number): SimPartition {
    const old = this.previous;
    return old && this.kvh.toOldNode(this.id, this.epoch, txn) ? old : this;
  }

  /** While the node is cut off from its clients, `f` waits till it is back (and true). */
  private held(f: () => void): boolean {
    if (this.cut !== "node") return false;
    probe("kvtxn.move.heldWhileCut");
    this.waiting.push(f);
    return true;
  }

  override prepare(req: PrepareRequest, answer: (r: TxnResult<Vote>) => void): void {
    const node = this.reached(req.txn);
    if (node !== this) node.prepare(req, answer);
    else if (!this.held(() => this.prepare(req, answer))) super.prepare(req, answer);
  }

  override notified(txn: number, outcome: Outcome): void {
    const node = this.reached(txn);
    if (node !== this) node.notified(txn, outcome);
    else if (!this.held(() => this.notified(txn, outcome))) super.notified(txn, outcome);
  }

  override learned(proc: SimProcess, index: number, value: Uint8Array): void {
    if (proc === this.previous?.proc) this.previous.learned(proc, index, value);
    else super.learned(proc, index, value);
  }

  /** The partition moved on from this node: it goes on as a zombie (cut off as `cut` says till
   *  `reconnect`) until `stop`, and never starts again. */
  retire(cut: CutOff): void {
    this.retired = true;
    this.previous = undefined;
    this.cut = cut;
  }

  /** `f` once this node's first restart scan is done, with the scan start it left (no vote of
   *  another node of the partition above it is known to this one). */
  afterScan(f: (from: number) => void): void {
    if (this.scanned === undefined) this.whenScanned.push(f);
    else f(this.scanned);
  }

  /** The node is cut off no more: its player goes on, and what waited reaches it. */
  reconnect(): void {
    this.cut = "none";
    this.shard?.deliverSoon();
    for (const f of this.waiting.splice(0)) f();
  }

  /** The zombie stops (it heard, or was shut down). */
  stop(): void {
    if (this.proc) this.kvh.k.procs.kill(this.proc);
  }

  /** Reserve the part's keys, and holding them wait until the state is current; then vote. */
  protected override admit(_proc: SimProcess, req: PrepareRequest, vote: () => void, refuse: (r: TxnResult<Vote>) => void): void {
    const book = this.book!;
    const shard = this.shard!;
    const part = book.decode(req.payload);
    const key = `${req.space}:${req.txn}`;
    // A node whose partition moved votes NO at once (the book says why): it waits for nothing.
    if (!part || req.space !== this.kvh.space || this.superseded(shard.state) !== undefined || !book.reserve(key, partKeys(part))) vote();
    else {
      shard.whenApplied(
        this.log.tail,
        () => {
          // The tail read after the prepare arrived covers an owner entry this node had not applied yet.
          if (this.superseded(shard.state) !== undefined) this.kvh.supersededWhilePreparing(this.id, req.txn);
          vote();
        },
        this.kvh.o.prepareWaitMs,
        () => {
          book.unreserve(key);
          probe("kvtxn.prepare.waitedOut");
          refuse({ ok: false, failure: { code: "timeout", message: `participant ${this.name}: the partition's state is not current yet` } });
        },
      );
    }
  }

  /** After a vote, no reservation of a part the book never voted on is kept (a prepare below the
   *  core's floor votes NO by capture, and a failed capture leaves the book unasked): without this,
   *  such keys stay locked. `unreserve` keeps a reservation the book voted on. */
  protected override voted(req: PrepareRequest, _r: TxnResult<Vote>): void {
    if (this.kvh.o.unreserveFailedVotes) this.book?.unreserve(`${req.space}:${req.txn}`);
  }

  private decided(proc: SimProcess, shard: LifeShard, book: PartitionBook, d: Decided<KvTxn>): void {
    const h = this.kvh;
    h.k.record(`${proc.label} decided ${d.txn} ${d.outcome}${this.ready ? "" : " (restart)"}`);
    const started = h.registry.get(d.txn);
    if (started) h.k.check(h.observer.decided(String(d.txn), started.record.participants.length, `participant ${proc.label}`, d.outcome));
    book.forgetBelow(d.scanFrom);
    if (d.outcome === "committed" && d.part && d.part.success.length > 0) this.commit(proc, shard, book, d.txn, d.part, d.scanFrom);
  }

  /** Append the commit entry of `txn` under this node's map epoch, wait until it is applied, release its locks. */
  private commit(proc: SimProcess, shard: LifeShard, book: PartitionBook, txn: number, part: KvTxn, scanFrom: number): void {
    // The scan start a commit entry carries is below every commit of this life not applied yet (its own included).
    this.applying.add(txn);
    const entry = encodeCommit(this.epoch, { txn, scanFrom: Math.min(scanFrom, ...this.applying), ops: part.success });
    const appending = () => {
      if (!this.ready) probe(this.log.appended.has(txn) ? "kvtxn.restart.appendedAgain" : "kvtxn.restart.appended");
      this.log.appended.add(txn);
    };
    this.appendApplied(proc, shard, entry, () => shard.state.committed(txn), appending, () => {
      book.release(`${this.kvh.space}:${txn}`);
      this.applying.delete(txn);
      if (this.applying.size === 0 && this.flushed) {
        const serve = this.flushed;
        this.flushed = undefined;
        serve();
      }
    });
  }

  /** Claim the partition (apps/kv/node/kv-owner.ts `claimPartition`): catch up with the log's tail,
   *  then, unless the log names an owner of this node's map epoch (or a newer one), append the owner
   *  entry and wait until it is applied. */
  private claim(proc: SimProcess, shard: LifeShard, claimed: () => void): void {
    const entry = encodeOwner({ epoch: this.epoch, node: this.node });
    const done = () => {
      probe("kvtxn.move.claimed");
      this.kvh.k.record(`${proc.label} claimed partition ${this.id} at map epoch ${this.epoch}, scan from ${shard.state.scanFrom}`);
      claimed();
      this.onClaimed?.();
    };
    shard.whenApplied(this.log.tail, () => this.appendApplied(proc, shard, entry, () => shard.state.mapEpoch >= this.epoch, () => {}, done));
  }

  /** Append `entry` (again, until it lands; `appending` before each try) unless `already` holds,
   *  and wait until `shard` applied it: then `then`. Nothing more once that shard's life ended. */
  private appendApplied(proc: SimProcess, shard: LifeShard, entry: Uint8Array, already: () => boolean, appending: () => void, then: () => void): void {
    const live = () => this.shard === shard;
    const attempt = () => {
      if (!live()) return;
      if (already()) return then();
      appending();
      this.log.append(
        proc,
        entry,
        (slot) => live() && shard.whenApplied(slot, then),
        () => live() && this.kvh.k.later(this.kvh.o.appendRetryMs, attempt),
      );
    };
    attempt();
  }

  /** What must hold once the run has healed: everything appended applied, nothing held. */
  settled(): string[] {
    const bad: string[] = [];
    const state = this.state;
    if (!state) return [`${this.name} is down after the heal`];
    if (this.log.inFlight > 0) bad.push(`${this.name}: ${this.log.inFlight} appends still on their way after the heal`);
    if (state.applied !== this.log.tail) bad.push(`${this.name}: its shard applied its log up to ${state.applied}, not to its end ${this.log.tail}`);
    if (this.applying.size > 0) bad.push(`${this.name}: commits of ${[...this.applying].join(", ")} still being applied after the heal`);
    if ((this.book?.lockedKeys ?? 0) > 0) bad.push(`${this.name}: ${this.book!.lockedKeys} keys still locked after the heal`);
    return [...bad, ...this.kvh.ledger.unapplied(this.id, state.applied)];
  }
}
