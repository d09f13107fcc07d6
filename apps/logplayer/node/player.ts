/**
 * The LogPlayer process (docs/ARCHITECTURE.md §4.4): the shell around `PlayerCore`. It claims the
 * next epoch of its player group (`claimEpoch`, a space of kind `logplayer`), opens one delivery
 * stream per shard (shard-link.ts) and the log's subscription (apps/log) where the core says, and
 * feeds the core every reply, stream failure, record and re-read; it sends what `takeOutputs(now)`
 * says, re-reads a shard that fell behind with `readRange`, trims the log below what every shard
 * has durably applied, and wakes at `nextWakeup()`. It keeps nothing durable but its epoch: after a
 * crash a new player (the next epoch) asks every shard where it stands and resumes there, and a
 * shard's `fenced` reply stops an older player for good.
 *
 * It tells each shard what its sender holds for it (in flight, window, queued, behind: the core's
 * `report`), at most once per pump and only when it changed or `REPORT_LIMITS.refreshMs` passed:
 * riding the last batch of the pump to that shard, else in a report frame of its own, at most one
 * per `REPORT_LIMITS.frameEveryMs` (a change meanwhile is told when that has passed); the shard's
 * status shows it. An entry's routing keys are its stream tags, or, without any, its payload (apps/logplayer/README.md).
 */
import { randomUUID } from "node:crypto";
import type { WormLog } from "../../log/node/log-client.ts";
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import { delay, drive } from "../../../wor/node/driver.ts";
import { claimEpoch } from "../core/epoch.ts";
import { type PlayerFrame, type PlayerReport, logRecordsOf, offeredRecord, sameReport } from "../core/items.ts";
import { PLAYER_DEFAULTS, type PlayerConfig, PlayerCore, type PlayerStop, type PlayerTuning } from "../core/player-core.ts";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import { type DeliveryStream, type LocalShard, ShardLinks } from "./shard-link.ts";
import { OncePerTurn } from "../../../wor/node/once-per-turn.ts";

export interface LogPlayerOptions {
  readonly client: WorClient;
  /** The log it plays (read-only: reads, subscription, trim). */
  readonly log: WormLog;
  /** The player group: the space of its epochs (created, kind `logplayer`, if missing). */
  readonly group: string;
  /** Shard addresses in routing order (fixed for the group). */
  readonly shards: readonly string[];
  readonly player?: string;
  /** TLS and token for the shards (the cluster's: shards serve with its certificate and token). */
  readonly security?: ClientSecurity;
  readonly tuning?: Partial<PlayerTuning>;
  /** Something worth telling the operator: the subscription's start, a trim, a lost subscription. */
  readonly onEvent?: (event: PlayerEvent) => void;
  /** `log` is this process's own, appended through: its appends reach the player from the appends
   *  themselves, not from the acceptors' pushes (apps/log subscribe `own`; a KV node plays its own log). */
  readonly ownAppends?: boolean;
  /** Shards served in this process, by address: delivered to without the network (a KV node's own). */
  readonly localShards?: ReadonlyMap<string, LocalShard>;
}

/** Why a player stopped on its own: the core's reasons, or a shard refused its token (it cannot deliver there). */
export type PlayerEnd = PlayerStop | { readonly reason: "unauthenticated"; readonly shard: number; readonly message: string };

export type PlayerEvent =
  | { readonly event: "subscribed"; readonly from: number }
  | { readonly event: "trimmed"; readonly below: number }
  | { readonly event: "problem"; readonly message: string };

const PLAYER_SHELL_LIMITS = Object.freeze({
  /** Pause before subscribing again after the subscription failed. */
  resubscribeMs: 500,
});

export const REPORT_LIMITS = Object.freeze({
  /** An unchanged report is told again this often, so a quiet player still shows. */
  refreshMs: 2_000,
  /** A report frame of its own (none riding a batch) follows the last report this long after at least. */
  frameEveryMs: 100,
  /** A report older than this is not shown (`worm logplayer status`, `worm inspect`): its player may be gone. */
  staleMs: 10_000,
});

interface Link {
  readonly id: number;
  readonly stream: DeliveryStream;
  /** The report last told on this stream, and when. */
  told?: { readonly report: PlayerReport; readonly at: number };
  /** The report changed since it was told, and waits for `frameEveryMs`. */
  owed?: boolean;
}

type Send = { readonly shard: number; readonly stream: number; readonly frame: PlayerFrame };

export class LogPlayer {
  /** Resolves when the player stops: with why when a shard fenced or refused it, undefined after `stop()`. */
  readonly done: Promise<PlayerEnd | undefined>;
  private finish!: (stop: PlayerEnd | undefined) => void;
  private readonly links: ShardLinks;
  private readonly streams = new Map<number, Link>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly pumper = new OncePerTurn(() => this.pump());
  private closed = false;
  private trimming = false;
  private trimWanted: number | undefined;

  private constructor(
    private readonly o: LogPlayerOptions,
    private readonly core: PlayerCore,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.links = new ShardLinks(o.shards, o.security, o.localShards);
  }

  /** Claim the next epoch of the group and start playing. */
  static async start(o: LogPlayerOptions): Promise<LogPlayer> {
    const created = await o.client.createSpace(o.group, { kind: "logplayer" });
    if (created.meta.kind !== "logplayer") throw new WorError({ code: "wrongKind", message: `${o.group} is a space of kind ${created.meta.kind}, not a player group` });
    const player = o.player ?? `player-${randomUUID()}`;
    const claim = await drive(claimEpoch(o.group, player, { log: o.log.name, shards: o.shards }), o.client);
    if (!claim.ok) throw new WorError(claim.failure);
    const config: PlayerConfig = { ...PLAYER_DEFAULTS, ...o.tuning, epoch: claim.value.epoch, player, group: o.group, shards: o.shards.length };
    const p = new LogPlayer(o, new PlayerCore(config, Date.now()));
    p.pump();
    return p;
  }

  get epoch(): number {
    return this.core.config.epoch;
  }

  /** Stop playing (SIGINT): close the streams and the subscription. */
  stop(): void {
    this.end(undefined);
  }

  private end(stop: PlayerEnd | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.abort.abort();
    for (const s of this.streams.values()) s.stream.close();
    this.streams.clear();
    this.links.close();
    this.finish(stop);
  }

  /** Pump once soon (coalescing the inputs that arrive meanwhile into one batch per shard). */
  private kick(): void {
    if (!this.closed) this.pumper.schedule();
  }

  private pump(): void {
    if (this.closed) return;
    const now = Date.now();
    const out = this.core.takeOutputs(now);
    for (const c of out.closes) {
      const s = this.streams.get(c.shard);
      if (s?.id !== c.stream) continue;
      s.stream.close();
      this.streams.delete(c.shard);
    }
    for (const op of out.opens) this.open(op.shard, op.stream);
    for (const s of this.withReports(out.sends, now)) {
      const x = this.streams.get(s.shard);
      if (x?.id === s.stream) x.stream.send(s.frame);
    }
    for (const r of out.reads) this.reread(r.shard, r.id, r.from, r.to);
    if (out.subscribe !== undefined) {
      this.o.onEvent?.({ event: "subscribed", from: out.subscribe });
      void this.follow(out.subscribe);
    }
    if (out.trim !== undefined) this.trim(out.trim);
    if (out.stopped) {
      this.end(out.stopped);
      return;
    }
    clearTimeout(this.timer);
    let wake = this.core.nextWakeup() ?? Number.POSITIVE_INFINITY;
    for (const x of this.streams.values()) if (x.told) wake = Math.min(wake, x.told.at + (x.owed ? REPORT_LIMITS.frameEveryMs : REPORT_LIMITS.refreshMs));
    if (Number.isFinite(wake)) this.timer = setTimeout(() => this.pump(), Math.max(0, wake - Date.now()));
  }

  /** `sends` with each live stream's report where it changed (or is due again): on the pump's last batch to that shard, else a report frame. */
  private withReports(sends: readonly Send[], now: number): Send[] {
    const out = [...sends];
    const lastBatch = new Map<number, number>();
    out.forEach((s, i) => {
      if (s.frame.kind === "batch") lastBatch.set(s.shard, i);
    });
    for (const [shard, x] of this.streams) {
      const report = this.core.report(shard);
      const told = x.told;
      x.owed = false;
      if (!report) {
        x.told = undefined;
        continue;
      }
      const i = lastBatch.get(shard);
      const s = i === undefined ? undefined : out[i];
      const ride = i !== undefined && s?.stream === x.id && s.frame.kind === "batch";
      if (told && now < told.at + REPORT_LIMITS.refreshMs) {
        if (sameReport(told.report, report)) continue;
        x.owed = !ride && now < told.at + REPORT_LIMITS.frameEveryMs;
        if (x.owed) continue;
      }
      x.told = { report, at: now };
      if (ride) out[i] = { ...s, frame: { ...s.frame, report } };
      else out.push({ shard, stream: x.id, frame: { kind: "report", epoch: this.core.config.epoch, report } });
    }
    return out;
  }

  private open(shard: number, id: number): void {
    this.streams.get(shard)?.stream.close();
    let answered = false;
    const stream = this.links.open(shard, {
      reply: (reply) => {
        answered = true;
        this.core.onReply(shard, id, reply, Date.now());
        this.kick();
      },
      down: (why, refused) => {
        if (refused) return this.end({ reason: "unauthenticated", shard, message: why });
        // Said once per stream that had answered: a shard that stays down is not said again on every retry.
        if (answered) this.o.onEvent?.({ event: "problem", message: `lost the stream to shard ${this.o.shards[shard]} (${why}); reconnecting` });
        if (this.streams.get(shard)?.id === id) this.streams.delete(shard);
        this.core.streamDown(shard, id, Date.now());
        this.kick();
      },
    });
    this.streams.set(shard, { id, stream });
  }

  /** The subscription from `from` on; after a failure it subscribes again where it stopped. */
  private async follow(from: number): Promise<void> {
    const signal = this.abort.signal;
    let next = from;
    while (!signal.aborted) {
      try {
        for await (const r of this.o.log.subscribe(next, { signal, fills: true, own: this.o.ownAppends === true })) {
          if (this.closed) return;
          next = r.slot + 1;
          if (r.kind === "trimmed") continue;
          this.core.offer(offeredRecord(r));
          this.kick();
        }
      } catch (e) {
        if (signal.aborted) return;
        this.o.onEvent?.({ event: "problem", message: `subscription to ${this.o.log.name} failed at ${next} (${(e as Error).message}); subscribing again` });
        await delay(PLAYER_SHELL_LIMITS.resubscribeMs);
      }
    }
  }

  private reread(shard: number, id: number, from: number, to: number): void {
    this.o.log.readRange(from, to).then(
      (reads) => {
        if (this.closed) return;
        this.core.reread(shard, id, logRecordsOf(reads));
        this.kick();
      },
      () => {
        if (this.closed) return;
        this.core.readFailed(shard, id, Date.now());
        this.kick();
      },
    );
  }

  /** One trim at a time; a later mark waits for the one in flight. */
  private trim(below: number): void {
    this.trimWanted = Math.max(this.trimWanted ?? 0, below);
    if (this.trimming) return;
    const mark = this.trimWanted;
    this.trimWanted = undefined;
    this.trimming = true;
    this.o.log.trim(mark).then(
      () => this.o.onEvent?.({ event: "trimmed", below: mark }),
      (e: unknown) => this.o.onEvent?.({ event: "problem", message: `trimming ${this.o.log.name} below ${mark}: ${(e as Error).message}` }),
    ).finally(() => {
      this.trimming = false;
      if (this.trimWanted !== undefined && !this.closed) this.trim(this.trimWanted);
    });
  }
}
