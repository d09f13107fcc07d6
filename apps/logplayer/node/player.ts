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
 * An entry's routing keys are its stream tags, or, without any, its payload (apps/logplayer/README.md).
 */
import { randomUUID } from "node:crypto";
import type { WormLog } from "../../log/node/log-client.ts";
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import { delay, drive } from "../../../wor/node/driver.ts";
import { claimEpoch } from "../core/epoch.ts";
import { logRecordOf, logRecordsOf } from "../core/items.ts";
import { PLAYER_DEFAULTS, type PlayerConfig, PlayerCore, type PlayerStop, type PlayerTuning } from "../core/player-core.ts";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import { type DeliveryStream, ShardLinks } from "./shard-link.ts";
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

export class LogPlayer {
  /** Resolves when the player stops: with why when a shard fenced or refused it, undefined after `stop()`. */
  readonly done: Promise<PlayerEnd | undefined>;
  private finish!: (stop: PlayerEnd | undefined) => void;
  private readonly links: ShardLinks;
  private readonly streams = new Map<number, { readonly id: number; readonly stream: DeliveryStream }>();
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
    this.links = new ShardLinks(o.shards, o.security);
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
    const out = this.core.takeOutputs(Date.now());
    for (const c of out.closes) {
      const s = this.streams.get(c.shard);
      if (s?.id !== c.stream) continue;
      s.stream.close();
      this.streams.delete(c.shard);
    }
    for (const op of out.opens) this.open(op.shard, op.stream);
    for (const s of out.sends) {
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
    const wake = this.core.nextWakeup();
    if (wake !== undefined) this.timer = setTimeout(() => this.pump(), Math.max(0, wake - Date.now()));
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
        for await (const r of this.o.log.subscribe(next, { signal })) {
          if (this.closed) return;
          next = r.slot + 1;
          if (r.kind !== "entry") continue;
          this.core.offer(logRecordOf(r.slot, r.entry));
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
