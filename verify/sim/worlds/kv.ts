/**
 * The KV world (docs/ARCHITECTURE.md §4.5; apps/kv/README.md): one partition of the example KV. Its
 * log is the log world's (worlds/log.ts, whole: the real sequencer over the real acceptors, its
 * crashes and takeovers, appenders crashing at a write); the KV's writers are its appenders. Each
 * shard (worlds/kv-shard.ts: the real `ShardCore` delivery rule, the real `KvShardState` applying the
 * delivered transactions with `applyTxn`, durable at a simulated sync, lost by a crash beyond it) is
 * delivered the whole log by a line of LogPlayer players of its own (worlds/kv-delivery.ts), with
 * every LogPlayer fault. Clients (worlds/kv-clients.ts) write (append a transaction under its key,
 * answer with a shard's result at its position) and read linearizably (the log's tail, then a shard
 * that has applied below it). The partition moves to another node now and then (worlds/kv-move.ts):
 * an owner entry of the next map epoch in its log, while zombie writers go on appending under the
 * old one; what lands after the owner entry is applied as nothing, and its write refused and tried
 * again under the new epoch.
 *
 * Checks: the `KvObserver` (apps/kv/core/invariants.ts) fed with every log slot as it is chosen at a
 * quorum, every answer (answers follow the log) and every shard's state each time it applies a
 * write and at the end (shards hold the log, revisions never go back); each line's
 * `DeliveryObserver` (fills logged as records for no shard); the log world's own checks; liveness: a
 * request that began waiting at its node after the heal is answered (worlds/kv-clients.ts). At the
 * end: every shard applied the whole log, no KV check waits for a position never chosen, and the
 * history is linearizable (verify/spec/kv.ts).
 */
import type { TxnResult } from "../../../apps/kv/core/commands.ts";
import { KvObserver } from "../../../apps/kv/core/invariants.ts";
import { decodeEntry } from "../../../apps/kv/core/records.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { type ReadConfig, slotRead } from "../../../apps/log/core/read.ts";
import { logRecordOf } from "../../../apps/logplayer/core/items.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import type { Step } from "../../../wor/core/steps.ts";
import { HistoryRecorder } from "../../history/history.ts";
import { type KvInput, type KvOutput, checkKvHistory } from "../../spec/kv.ts";
import type { SimAcceptor } from "../kernel/acceptor.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { KvClients, type KvClientsHost } from "./kv-clients.ts";
import { Delivery, type DeliveryHost } from "./kv-delivery.ts";
import { KV_WORLD_DEFAULTS, type KvWorldOptions } from "./kv-options.ts";
import type { SimKvShard } from "./kv-shard.ts";
import { ChosenSlots } from "./log-chosen.ts";
import { logWorld } from "./log.ts";
import { LOG_NAME } from "./log-sequencer.ts";
import type { LogHost } from "./log-workload.ts";
import { PLAYER_GROUP } from "./logplayer-options.ts";

export const kvWorld: WorldDef<KvWorldOptions> = {
  layer: "kv",
  title: "the example KV: one partition's log applied by its shards, writes and linearizable reads through every log and LogPlayer fault",
  defaults: KV_WORLD_DEFAULTS,
  buggifySalt: 0x5bd1e995,
  setup: (o) => [...logWorld.setup(o), ...spaceSetup(PLAYER_GROUP, { kind: "logplayer", segmentSize: o.segmentSize })],
  create: (kernel, o) => new KvWorld(kernel, o),
};

/** The partition's id in the observer. */
const PARTITION = 0;
const NO_BYTES = new Uint8Array(0);

class KvWorld implements World, DeliveryHost, KvClientsHost {
  readonly kv = new KvObserver();
  readonly history = new HistoryRecorder<KvInput, KvOutput>();
  /** The log world, and its record keeping (the `LogHost` it is): the writers' appends go into its
   *  history and its observer, so its own checks cover them. */
  readonly log: World & LogHost;
  readonly deliveries: Delivery[];
  readonly shards: SimKvShard[];
  readonly readCfg: ReadConfig;
  private readonly clients: KvClients;
  private readonly chosen: ChosenSlots;
  /** One past the last entry chosen. */
  private end = 0;
  /** KvObserver violations reported so far. */
  private reported = 0;

  constructor(
    readonly k: Kernel,
    readonly o: KvWorldOptions,
  ) {
    this.log = logWorld.create(k, o) as World & LogHost;
    this.chosen = new ChosenSlots(LOG_NAME, k.quorum);
    this.readCfg = { log: LOG_NAME, segmentSize: o.segmentSize, holeTimeoutMs: 150, pollMs: 20, readChunkMax: 32, retryMs: 20 };
    this.deliveries = Array.from({ length: o.shards }, (_, i) => new Delivery(this, i));
    this.shards = this.deliveries.map((d) => d.shard);
    this.clients = new KvClients(this);
  }

  get pending(): number {
    return this.history.pending + this.log.pending;
  }
  get operations(): number {
    return this.history.operations().length;
  }
  get logEnd(): number {
    return this.end;
  }
  /** Every client made its requests and none is open: nothing more is appended. */
  appendsOver(): boolean {
    return this.k.healed && this.clients.over && this.history.pending === 0;
  }

  begin(): void {
    this.log.begin();
    for (const d of this.deliveries) d.startPlayer();
    this.clients.begin();
  }

  final(): void {
    this.log.final();
  }

  /** The log world's end checks; every shard applied the whole log and holds the replay's state;
   *  no KV check waits; the history is linearizable. */
  finish(): readonly string[] {
    const bad = [...this.log.finish()];
    for (const d of this.deliveries) {
      bad.push(...d.observer.complete().map((v) => `${d.shard.name}: ${v}`));
      const s = d.shard.state;
      if (s) this.kv.shardHolds(PARTITION, d.shard.name, s.applied, s.revision, s.entries());
      else bad.push(`${d.shard.name} is down at the end`);
    }
    bad.push(...this.kv.violations.slice(this.reported));
    const waiting = this.kv.waiting();
    if (waiting > 0) bad.push(`${waiting} KV checks wait for log positions never chosen (log chosen below ${this.end})`);
    const v = checkKvHistory(this.history.operations(), { stepsMax: 5_000_000 });
    if (!v.ok) {
      const ops = this.history.operations();
      const stuck = v.verdict.timedOut ? [] : v.verdict.stuck;
      const lines = ops.filter((o) => stuck.includes(o.id)).map((o) => `  op${o.id} c${o.client} [${o.call}, ${o.ret}] ${JSON.stringify(o.input)} → ${JSON.stringify(o.output) ?? "unknown"}`);
      bad.push(`the KV history is not linearizable at ${v.partition}: ${JSON.stringify(v.verdict)}\n${lines.join("\n")}`);
    }
    if (bad.length === 0) this.k.outcome("kv:complete");
    return bad;
  }

  // ---- What the shards and clients report. ----
  applied(shard: SimKvShard): void {
    const s = shard.state!;
    this.kv.shardHolds(PARTITION, shard.name, s.applied, s.revision, s.entries());
    this.report();
  }

  answer(position: number, result: TxnResult, shard: SimKvShard, key: { readonly client: string; readonly seq: number }): void {
    this.kv.answered(PARTITION, position, result, `shard ${shard.name}`, key);
    this.report();
  }

  private report(): void {
    if (this.kv.violations.length === this.reported) return;
    this.k.check(this.kv.violations.slice(this.reported));
    this.reported = this.kv.violations.length;
  }

  // ---- Hooks. ----
  step(p: SimProcess, id: number, step: Step): boolean {
    return this.log.step?.(p, id, step) ?? false;
  }

  /** The log world's (its probes by role), except for players' steps. */
  answered(p: SimProcess, step: Step, result: unknown): void {
    if (!this.deliveries.some((d) => d.plays(p))) this.log.answered?.(p, step, result);
  }

  synced(a: SimAcceptor, durable: readonly Mutation[]): void {
    this.log.synced?.(a, durable);
    for (const v of this.chosen.add(a.id, durable)) {
      const read = slotRead(v.slot, v.value);
      // The log world reports a value that is no log value.
      if (!read.ok || read.value.kind === "unwritten" || read.value.kind === "trimmed") continue;
      if (read.value.kind === "fill") {
        // A fill is a record for no shard: players carry the shards past it with watermarks.
        for (const d of this.deliveries) d.observer.logged({ position: v.slot, keys: [], payload: NO_BYTES });
        this.end = Math.max(this.end, v.slot + 1);
        this.kv.logged(PARTITION, v.slot, undefined);
        continue;
      }
      const record = logRecordOf(v.slot, read.value.entry);
      for (const d of this.deliveries) d.observer.logged(record);
      this.end = Math.max(this.end, v.slot + 1);
      const entry = decodeEntry(read.value.entry.payload);
      this.kv.logged(PARTITION, v.slot, entry instanceof DecodeError ? undefined : entry);
    }
    this.report();
  }

  /** A partition: 30% between a player and its shard, else what the log world cuts. */
  link(): readonly [string, string] | undefined {
    if (this.k.prng.chance(0.3)) {
      const cut = this.k.prng.pick(this.deliveries).link();
      if (cut) return cut;
    }
    return this.log.link?.();
  }

  faults(): void {
    this.log.faults?.();
    for (const d of this.deliveries) d.faults();
  }

  healed(): void {
    this.log.healed?.();
    for (const d of this.deliveries) d.healed();
  }
}
