/**
 * A node's shard of a KV partition in the kvtxn world (worlds/kvtxn-partition.ts), one per life of
 * the node: its player applies the entries of the partition's log (worlds/kvtxn-log.ts) in order
 * (`KvShardState.write`) a few ms after they land (later when buggified, or while its node is
 * cut off: an old node, worlds/kvtxn-move.ts). Its image reaches the node's
 * disk a few ms after each apply, in order; a crash loses what was not synced. Every apply is
 * checked: a commit entry applied only of a committed transaction, once, and never one of a
 * superseded map epoch (the ledger); no balance negative; the shard's state is the log's replay (the
 * world's `holds`).
 */
import { decodeEntry } from "../../../apps/kv/core/records.ts";
import { type KvImage, KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type CommitLedger, balanceProblem } from "./kvtxn-ledger.ts";
import type { PartitionLog } from "./kvtxn-log.ts";

/** What a shard needs from the world. */
export interface ShardHost {
  readonly k: Kernel;
  readonly ledger: CommitLedger;
  /** Shard `shard` of `partition` applied its log up to `state.applied`. */
  holds(partition: number, shard: string, state: KvShardState): void;
}

/** A node's disk: its shard's image as of its last sync (it outlives the node's lives). */
export interface NodeDisk {
  image: KvImage;
  /** When the last sync scheduled lands (syncs land in order). */
  persistAt: number;
}

interface Waiter {
  readonly position: number;
  readonly ok: () => void;
}

export class LifeShard {
  /** The shard's state in memory: the disk's image, then what the player applied. */
  readonly state: KvShardState;
  private waiters: Waiter[] = [];
  private delivering = false;
  private stopped = false;

  constructor(
    private readonly h: ShardHost,
    private readonly log: PartitionLog,
    private readonly disk: NodeDisk,
    /** Its name for the checks ("s", "s@1": one per node). */
    readonly name: string,
    /** Whether its node is cut off from its log (its player applies nothing till it is back). */
    private readonly cutOff: () => boolean,
  ) {
    this.state = new KvShardState(disk.image);
  }

  /** Its life ended: nothing more is applied or synced, and nobody waiting hears. */
  stop(): void {
    this.stopped = true;
    this.waiters = [];
  }

  /** `ok` once the shard applied `position` (now, if it has); `timedOut` if `ms` pass first; neither if the life ends. */
  whenApplied(position: number, ok: () => void, ms?: number, timedOut?: () => void): void {
    if (this.state.applied >= position) {
      ok();
      return;
    }
    const w: Waiter = { position, ok };
    this.waiters.push(w);
    if (ms === undefined) return;
    this.h.k.later(ms, () => {
      if (this.stopped || !this.waiters.includes(w)) return;
      this.waiters = this.waiters.filter((x) => x !== w);
      timedOut?.();
    });
  }

  /** The player applies what the log holds past the applied position, a few ms (or `laterMs`) from
   *  now; nothing while its node is cut off (it calls again once back). */
  deliverSoon(laterMs = 0): void {
    const { k } = this.h;
    if (this.stopped || this.delivering || this.state.applied >= this.log.tail) return;
    this.delivering = true;
    k.later(laterMs + 1 + k.prng.int(3) + (buggify("sim.kvtxn.slowShard") ? 10 + k.prng.int(40) : 0), () => {
      if (this.stopped) return;
      this.delivering = false;
      if (!this.cutOff()) this.deliver();
    });
  }

  /** Apply the log past the applied position, check what changed, sync the image a few ms later (in order). */
  private deliver(): void {
    const { k, ledger } = this.h;
    const { state, log } = this;
    const from = state.applied + 1;
    const to = log.tail;
    const rows = log.from(from);
    const commits = new Set<number>();
    const before = state.mapEpoch;
    state.write(rows, to, (a) => {
      if (a.commit) {
        commits.add(a.position);
        k.check(ledger.applied(log.partition, a.position, a.commit.txn));
      }
      for (const [key, record] of a.changes) {
        const problem = balanceProblem(`partition ${log.partition}, position ${a.position}`, key, record);
        if (problem) k.check([problem]);
      }
    });
    // Commit entries not applied: a second one of a transaction, or one of a superseded map epoch.
    let epoch = before;
    for (const r of rows) {
      const e = decodeEntry(r.data);
      if (e instanceof DecodeError) continue;
      if (e.kind === "owner") epoch = Math.max(epoch, e.owner.epoch);
      if (e.kind === "commit" && !commits.has(r.position)) probe(e.epoch < epoch ? "kvtxn.shard.commitSuperseded" : "kvtxn.shard.commitSkipped");
    }
    k.record(`p${log.partition}/${this.name} applied ${from}..${to} r${state.revision}`);
    this.h.holds(log.partition, this.name, state);
    const image = state.image();
    const { disk } = this;
    disk.persistAt = Math.max(disk.persistAt, k.now + 1 + k.prng.int(4));
    k.later(disk.persistAt - k.now, () => {
      if (!this.stopped) disk.image = image;
    });
    const ready = this.waiters.filter((w) => w.position <= state.applied);
    this.waiters = this.waiters.filter((w) => w.position > state.applied);
    for (const w of ready) w.ok();
    this.deliverSoon();
  }
}
