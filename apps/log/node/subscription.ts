/**
 * `subscribe(from)` (docs/ARCHITECTURE.md §4.1): catch up by reading (for one stream: by its backpointers),
 * then follow pushed values (the register layer's watch) through the in-order buffer. Reads fill
 * in what pushes missed; a slot that stays empty below later values (or below a tail this process
 * learned) past the hole timeout is filled.
 */
import type { WorClient } from "../../../wor/node/client.ts";
import type { Watched } from "../../../wor/node/watch-feed.ts";
import { InOrder } from "../core/in-order.ts";
import { type ReadConfig, type SettledRead, fill, readSlots, slotRead } from "../core/read.ts";
import type { LogGen, LogResult } from "../core/steps.ts";
import { readStream } from "../core/stream.ts";
import { type Bound, delay } from "../../../wor/node/driver.ts";
import { bounded, runLog } from "./driver.ts";
import { LogError } from "./log-error.ts";
import type { TokenSource } from "./token-source.ts";

export interface SubscriptionPorts {
  readonly client: WorClient;
  readonly tokens: TokenSource | undefined;
  readonly config: ReadConfig;
  /** Bounds each read and fill (not the wait for new entries). */
  readonly bound?: Bound;
  /** The highest tail this process learned of the log (its reads wait for the slots below it): a
   *  slot missing below it is a hole, filled past the hole timeout even with nothing after it. */
  readonly tailSeen?: () => number;
  /** Hear of this process's own appends as they land (`own`); returns what stops hearing. */
  readonly appended?: (listener: (r: SettledRead) => void) => () => void;
}

/** Slots held ahead of the next one to deliver; beyond, pushes are dropped and read again later. */
const HELD_MAX = 65_536;
/** With nothing known beyond the next slot, look anyway this often (pushes can be lost). */
const IDLE_READ_MS = 250;

export interface SubscribeOptions {
  /** Only entries carrying this stream tag (caught up by backpointers when a sequencer is known). */
  readonly stream?: string;
  /** Ends the subscription (the iterator finishes), even while it waits for the next entry. */
  readonly signal?: AbortSignal;
  /** Yield the fills too (without `stream`): a consumer then knows how far the log is settled even
   *  where no entry follows them (LogPlayer moves its shards past them). */
  readonly fills?: boolean;
  /** This process's own appends come from the appends themselves, not from the acceptors' pushes
   *  (the watch skips the values this client writes): each acceptor sends one push fewer per own
   *  entry, and this process reads none of them. What the appends do not tell (an entry with
   *  streams, a fill of its own sequencer) is read, as a lost push is. */
  readonly own?: boolean;
}

export async function* subscribe(ports: SubscriptionPorts, from: number, opts: SubscribeOptions = {}): AsyncGenerator<SettledRead> {
  const { stream, signal, fills } = opts;
  const own = opts.own === true && ports.appended !== undefined;
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal?.aborted) resolve("aborted");
    signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  const { client, tokens, config, bound } = ports;
  const run = <T>(gen: LogGen<LogResult<T>>): Promise<T> => runLog(gen, client, tokens, bound);
  const wanted = (s: SettledRead): boolean =>
    s.kind === "entry" ? stream === undefined || s.entry.streams.some((l) => l.tag === stream) : s.kind === "fill" && fills === true && stream === undefined;
  let start = from;
  if (stream !== undefined && tokens) {
    // Catch up on one stream by its backpointers, without reading the rest of the log.
    const tail = await bounded(tokens.grant(config.log, { asks: [] }), bound);
    if (!tail.ok) throw new LogError(tail.failure);
    for (const e of await run(readStream(config, stream, from, tail.value.tail))) yield { kind: "entry", slot: e.slot, entry: e.entry };
    start = Math.max(from, tail.value.tail);
  }
  const order = new InOrder(start, HELD_MAX);
  let feed = client.watch(config.log, start, { skipOwn: own });
  // Own appends, offered as they land; each wakes the loop.
  let poked: (() => void) | undefined;
  const unlisten = own
    ? ports.appended!((r) => {
        order.offer(r, Date.now());
        poked?.();
      })
    : undefined;
  let push: Promise<IteratorResult<Watched>> | undefined;
  let look: { readonly at: number; readonly fired: Promise<void> } | undefined;
  let lastRead = 0;
  try {
    while (!signal?.aborted) {
      for (const s of order.take(Date.now())) if (wanted(s)) yield s;
      const now = Date.now();
      if (ports.tailSeen) order.expect(ports.tailSeen(), now);
      const stuck = order.stuck();
      if (stuck && now - stuck.since >= config.holeTimeoutMs) {
        order.offer(await run(fill(config, stuck.slot)), Date.now());
        continue;
      }
      if (now - lastRead >= (stuck ? config.pollMs : IDLE_READ_MS)) {
        lastRead = now;
        const got = await run(readSlots(config, order.next, order.next + config.readChunkMax));
        for (const s of got) {
          if (s.kind === "trimmed") order.skipTo(s.slot + 1);
          else if (s.kind !== "unwritten") order.offer(s, Date.now());
        }
        continue;
      }
      push ??= feed.next();
      // One timer for the next look, kept across pushes (not one per value): replaced only when
      // the look is due sooner (a slot got stuck).
      const due = now + Math.max(1, (stuck ? config.pollMs : IDLE_READ_MS) - (now - lastRead));
      if (!look || due < look.at) {
        const at = due;
        look = { at, fired: delay(due - now).then(() => {
          if (look?.at === at) look = undefined;
        }) };
      }
      const poke = own ? new Promise<"poked">((resolve) => {
        poked = () => resolve("poked");
      }) : undefined;
      const r = await Promise.race([push.catch((e: unknown) => e as Error), look.fired, aborted, ...(poke ? [poke] : [])]);
      poked = undefined;
      if (r === undefined || r === "aborted" || r === "poked") continue;
      push = undefined;
      if (r instanceof Error || r.done) {
        // The feed fell behind or ended: reads carry on, and a new watch starts where we are.
        feed.return();
        feed = client.watch(config.log, order.next, { skipOwn: own });
        continue;
      }
      // This push and every one already buffered behind it, in one go.
      for (const w of [r.value, ...feed.takeBuffered()]) {
        const s = slotRead(w.index, w.value);
        if (!s.ok) throw new LogError(s.failure);
        if (s.value.kind !== "unwritten") order.offer(s.value, Date.now());
      }
    }
  } finally {
    unlisten?.();
    feed.return();
  }
}
