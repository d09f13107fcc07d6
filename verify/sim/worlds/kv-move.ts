/**
 * The KV world's move fault (worlds/kv.ts), moving its partition to another node as
 * apps/kv/node/kv-owner.ts does: the new owner claims the partition with an owner entry of the next
 * map epoch in the partition's log (the real `encodeOwner`, appended with the real `append` under
 * the key (kv-owner, epoch), again after a failure or a crash: stored once). Once that append is
 * acknowledged the new owner serves, and a writer that has heard of the move appends under the new
 * epoch, through the new node (apps/kv/node/kv-client.ts reads the map again).
 *
 * A writer hears of a claim at once, or up to `zombieMs` later, or when its old node refuses it. Till
 * then it is a **zombie**: it goes on appending under the old epoch through the old node, and so do
 * its writes in flight. The old node, once its shard has applied the newer owner entry (superseded),
 * refuses the write (`wrongPartition`, apps/kv/node/kv-node.ts): before appending it, or after its
 * batch was applied without it (it landed after the owner entry: apps/kv/core/shard-state.ts applied
 * it as nothing); the writer reads the map again and tries the same key (client, seq) under the new
 * epoch. A zombie's batch that landed before the owner entry was applied: it is answered as usual.
 */
import type { KvShardState } from "../../../apps/kv/core/shard-state.ts";
import { encodeOwner } from "../../../apps/kv/core/records.ts";
import { type AppendConfig, append } from "../../../apps/log/core/append.ts";
import { keyString } from "../../../apps/log/core/entry.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { KvWorldOptions } from "./kv-options.ts";
import type { LogHost } from "./log-workload.ts";

/** What a move needs of the world. */
export interface KvMoveHost {
  readonly k: Kernel;
  readonly o: KvWorldOptions;
  /** The log world's record keeping and processes. */
  readonly log: LogHost;
}

/** The idempotency key's client half of owner entries (apps/kv/node/kv-owner.ts's). */
const OWNER_CLIENT = "kv-owner";

export class KvMove {
  /** The map epoch of the partition's newest owner, claimed in the log (0: it never moved). */
  private claimed = 0;
  /** A move's owner entry is on its way (not acknowledged yet). */
  private moving = false;
  /** Run once no move is under way. */
  private onSettled: (() => void)[] = [];
  /** Each writer's map epoch: the newest claim it heard of. */
  private readonly heard: number[];

  constructor(
    private readonly h: KvMoveHost,
    private readonly appendCfg: AppendConfig,
    /** The owner entries' client in the log world's history. */
    private readonly logClient: number,
  ) {
    this.heard = Array.from({ length: h.o.kvWriters }, () => 0);
  }

  /** No move is under way (its owner entry acknowledged, or none begun). */
  get settled(): boolean {
    return !this.moving;
  }

  /** `f` now if no move is under way, else once its owner entry is acknowledged. */
  whenSettled(f: () => void): void {
    if (this.moving) this.onSettled.push(f);
    else f();
  }

  /** A write begins: maybe the partition moves now (unless a move is under way). */
  writeBegun(): void {
    const { k, o } = this.h;
    if (!this.moving && k.prng.chance(o.faults.move)) this.move();
  }

  /** The map epoch writer `writer`'s next attempt is appended under: the newest claim it heard of. */
  epochOf(writer: number): number {
    return this.heard[writer]!;
  }

  /** The log key's client of writer `client`'s batches under map epoch `epoch`: each epoch's node
   *  appends under keys of its own (its batcher's), so a retry at the new node is a new entry. */
  logClientOf(client: string, epoch: number): string {
    return epoch === 0 ? client : `${client}@${epoch}`;
  }

  /** Why the node whose shard is at `state` refuses writer `writer`'s write appended under map epoch
   *  `epoch` (its shard applied a newer owner entry: superseded), or undefined. A refused writer
   *  reads the map again: it hears of that owner's epoch (its map is chosen before its claim). */
  refusal(writer: number, epoch: number, state: KvShardState | undefined): string | undefined {
    const owner = state?.owner;
    if (!owner || owner.epoch <= epoch) return undefined;
    this.hear(writer, owner.epoch);
    return `the partition moved to ${owner.node} (map epoch ${owner.epoch}; the writer's was ${epoch})`;
  }

  /** The partition moves to the node of the next map epoch: it appends its owner entry (again after
   *  a failure or its crash, under the same key); once acknowledged, writers hear of it. */
  private move(): void {
    const { k, log } = this.h;
    const epoch = this.claimed + 1;
    const owner = { epoch, node: `kv${epoch}:7100` };
    const key = { client: OWNER_CLIENT, seq: epoch };
    const payload = encodeOwner(owner);
    this.moving = true;
    probe("kv.move");
    k.record(`the partition moves to ${owner.node} (map epoch ${epoch})`);
    let proc = log.spawn(`owner${epoch}`, "appender");
    const attempt = () => {
      const logOp = log.history.invoke(this.logClient, { kind: "append", key: keyString(key) });
      proc.onDeath = () => {
        log.history.unknown(logOp);
        k.later(20 + k.prng.int(250), () => {
          proc = log.spawn(`owner${epoch}`, "appender");
          attempt();
        });
      };
      log.runOp(proc, append(this.appendCfg, { key, streams: [], payload }), (r) => {
        proc.onDeath = undefined;
        if (!r.ok) {
          log.history.unknown(logOp);
          k.later(20, attempt);
          return;
        }
        log.history.ok(logOp, { kind: "appended", slot: r.value.slot });
        k.check(log.observer.acked(key, r.value.slot));
        this.claimed = epoch;
        this.moving = false;
        probe("kv.move.claimed");
        k.record(`${owner.node} claimed the partition at ${r.value.slot} (map epoch ${epoch})`);
        for (let w = 0; w < this.heard.length; w++) {
          if (k.prng.chance(0.5)) this.hear(w);
          else k.later(k.prng.int(this.h.o.zombieMs), () => this.hear(w));
        }
        const settled = this.onSettled;
        this.onSettled = [];
        for (const f of settled) f();
      });
    };
    attempt();
  }

  /** Writer `writer` reads the map: it hears of the newest claim (at least of map epoch `epoch`). */
  private hear(writer: number, epoch = this.claimed): void {
    this.heard[writer] = Math.max(this.heard[writer]!, epoch);
  }
}
