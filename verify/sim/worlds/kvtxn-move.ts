/**
 * The kvtxn world's move fault (worlds/kvtxn.ts; apps/kv/README.md, "Moving a partition"): now and
 * then before the heal (`faults.move` per fault tick) a partition whose node serves, and whose last
 * old node stopped, moves to a new node under the next map epoch. The new node
 * (worlds/kvtxn-partition.ts) claims the partition in its log (its shard caught up, its owner entry
 * appended and applied), then runs its restart scan and serves; its commit entries carry the new
 * epoch.
 *
 * The old node has not heard: it goes on as a **zombie**. It may be cut off as the move begins (why
 * one moves a partition) till up to `zombieCutMs` after the claim: from its log (its player applies
 * nothing, so it applies the owner entry late, but it answers), or also from its clients (what is
 * sent to it waits till it is back). The prepares and decisions of coordinators that have not heard of the move still reach it,
 * and it votes as the real node does: superseded already, NO at once; else a tail read, a wait until
 * its shard applied it, then the book judges (NO, `moved`, if that wait applied the owner entry).
 * Its commit entries carry the old epoch (nothing, once below the owner entry).
 *
 * A coordinator hears of the move once the new node has claimed the partition: at once, or up to
 * `zombieMs` later (its map reads fail, or are rate-limited: apps/kv/node/kv-across.ts reads the map
 * after a refusal, at most every 250 ms), or when a partition refuses it `moved` (it reads the map
 * again); a coordinator's life that begins reads the newest map. A message goes to the node its
 * coordinator's map names when it is first sent (a duplicate follows it; one for a zombie that
 * stopped reaches nobody). The zombie stops up to `zombieMs` after it is back and every coordinator
 * has heard, or at the heal.
 *
 * Probes: `kvtxn.move` (a move began), `kvtxn.move.toZombie` (a message of a coordinator that had
 * not heard went to the old node), `kvtxn.move.supersededWhilePreparing` (a zombie's prepare waited,
 * and the wait applied the owner entry: NO), `kvtxn.move.supersededBeyondScan` (the same, in a
 * transaction above every block the new node's restart scan fenced: the one case where that NO is
 * what keeps the old node's vote from going unseen; rare); the node's: `kvtxn.move.claimed`,
 * `kvtxn.move.heldWhileCut`.
 */
import { REFUSAL } from "../../../apps/kv/core/book.ts";
import type { Committed } from "../../../apps/txn/core/coordinator.ts";
import type { TxnResult } from "../../../apps/txn/core/steps.ts";
import { probe } from "../../runtime/probe.ts";
import type { KvStarted } from "./kvtxn-bank.ts";
import { type CutOff, type PartitionHost, SimPartition } from "./kvtxn-partition.ts";

const CUT_OFFS: readonly CutOff[] = ["none", "log", "node"];

/** What moves need from the world (the nodes' host). */
export interface MoveHost extends PartitionHost {
  /** Each partition's newest node. */
  readonly partitions: readonly SimPartition[];
  /** `fresh` serves the partition of `old` now (among the participants, and for the bank's reads). */
  replace(old: SimPartition, fresh: SimPartition): void;
}

export class KvTxnMoves {
  /** The newest map's epoch. */
  private epoch = 0;
  /** The map epoch each coordinator routes by, by its owner name (one per life). */
  private readonly heard = new Map<string, number>();
  /** Whether the messages of each (partition, transaction) go to the old node: decided at the first. */
  private readonly routes = new Map<string, boolean>();
  private readonly zombies = new Set<SimPartition>();

  constructor(private readonly h: MoveHost) {}

  /** A fault tick: maybe a partition whose node serves, and whose last old node stopped, moves. */
  tick(): void {
    const { k, o, partitions } = this.h;
    if (!k.prng.chance(o.faults.move)) return;
    const movable = partitions.filter((p) => p.ready && !p.previous?.proc);
    if (movable.length > 0) this.move(k.prng.pick(movable));
  }

  /** Coordinator `coordinator` started a transaction: a life that begins reads the newest map. */
  started(coordinator: string): void {
    if (!this.heard.has(coordinator)) this.heard.set(coordinator, this.epoch);
  }

  /** A coordinator's commit returned: refused `moved`, it reads the map again. */
  done(s: KvStarted, r: TxnResult<Committed>): void {
    if (r.ok && r.value.refusals.some((x) => x.reason?.startsWith(REFUSAL.moved))) this.hear(s.record.coordinator);
  }

  /** Whether the messages of transaction `txn` for partition `partition` go to the node it moved
   *  from rather than to the one of map epoch `epoch`: its coordinator has not heard of that one. */
  toOldNode(partition: number, epoch: number, txn: number): boolean {
    const key = `${partition}@${epoch}:${txn}`;
    let old = this.routes.get(key);
    if (old === undefined) {
      const coordinator = this.h.registry.get(txn)?.record.coordinator;
      old = coordinator !== undefined && (this.heard.get(coordinator) ?? this.epoch) < epoch;
      this.routes.set(key, old);
      if (old) {
        probe("kvtxn.move.toZombie");
        this.h.k.record(`${coordinator}'s transaction ${txn} goes to the old node of partition ${partition}`);
      }
    }
    return old;
  }

  /** An old node of `partition` prepared `txn`, and its wait applied the owner entry that supersedes
   *  it: its book votes NO. When `txn` lies above every block the new node's restart scan fenced,
   *  that NO is all that keeps a YES of the old node from going unseen (planted bug `voteWhenMoved`). */
  supersededWhilePreparing(partition: number, txn: number): void {
    probe("kvtxn.move.supersededWhilePreparing");
    this.h.partitions[partition]!.afterScan((from) => {
      if (txn >= from) probe("kvtxn.move.supersededBeyondScan");
    });
  }

  /** The heal: every zombie stops. */
  healed(): void {
    for (const z of this.zombies) z.stop();
    this.zombies.clear();
  }

  private move(old: SimPartition): void {
    const { k, o } = this.h;
    const epoch = ++this.epoch;
    const fresh = new SimPartition(this.h, old.id, old.accounts, old.log, epoch, `127.0.0.1:${7000 + 100 * epoch + old.id}`);
    fresh.previous = old;
    // An old node is often cut off as its partition moves (why one moves it): till a while after the claim.
    const cut = k.prng.pick(CUT_OFFS);
    old.retire(cut);
    this.zombies.add(old);
    probe("kvtxn.move");
    k.record(`partition ${old.id} moves to ${fresh.node} (map epoch ${epoch}); ${old.proc?.label ?? old.name} goes on as a zombie, cut off: ${cut}`);
    this.h.replace(old, fresh);
    fresh.onClaimed = () => {
      fresh.onClaimed = undefined;
      const cutMs = cut === "none" ? 0 : k.prng.int(o.zombieCutMs);
      if (cut !== "none") {
        k.later(cutMs, () => {
          k.record(`${old.name} of map epoch ${old.epoch} is back`);
          old.reconnect();
        });
      }
      // Every coordinator hears of the claim, at once or later; the zombie stops a while after the last, and after its cut.
      let last = cutMs;
      for (const c of this.heard.keys()) {
        const ms = k.prng.chance(0.5) ? 0 : k.prng.int(o.zombieMs);
        last = Math.max(last, ms);
        k.later(ms, () => this.hear(c));
      }
      k.later(last + k.prng.int(o.zombieMs), () => {
        if (!this.zombies.delete(old)) return;
        k.record(`${old.name} of map epoch ${old.epoch} stops`);
        old.stop();
      });
    };
    fresh.spawn();
  }

  /** Coordinator `coordinator` reads the map: it routes by the newest from now on. */
  private hear(coordinator: string): void {
    this.heard.set(coordinator, Math.max(this.heard.get(coordinator) ?? 0, this.epoch));
  }
}
