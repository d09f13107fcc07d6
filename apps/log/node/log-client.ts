/**
 * WormLog: the shared log's client API (DESIGN.md §4.1). Appends go through a token source (an
 * embedded sequencer for single-writer mode, or a remote one) and one write round; reads, tails,
 * stream reads and subscriptions read the registers directly. Failures are thrown as `LogError`.
 */
import { randomUUID } from "node:crypto";
import { LIMITS } from "../../../paxos/limits.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { APPEND_DEFAULTS, type AppendConfig, type Appended, append } from "../core/append.ts";
import { type IdempotencyKey, encodeEntry, entryProblem } from "../core/entry.ts";
import { READ_DEFAULTS, type ReadConfig, type SettledRead, type SlotRead, readSettled, readSlots, scanTail } from "../core/read.ts";
import type { LogGen, LogResult } from "../core/steps.ts";
import { type StreamEntry, readStream } from "../core/stream.ts";
import { type Bound, bounded, runLog } from "./driver.ts";
import { LogError } from "./log-error.ts";
import { type SubscribeOptions, subscribe } from "./subscription.ts";
import type { TokenSource } from "./token-source.ts";

export interface WormLogOptions {
  readonly client: WorClient;
  readonly log: string;
  /** Where appends get tokens (and `tail()` its answer); without one, the log is read-only. */
  readonly tokens?: TokenSource;
  /** The client half of generated idempotency keys (random by default). */
  readonly clientId?: string;
  readonly read?: Partial<Omit<ReadConfig, "log" | "segmentSize">>;
  readonly append?: Partial<Omit<AppendConfig, "log">>;
  /** Each operation (append, read, readRange, readStream, tail; each read of a subscription) gives
   *  up after this long with a `LogError` (`timeout`, or `unavailable` naming an unreachable
   *  sequencer); an append's outcome is then unknown (append again with the same key). None: no bound. */
  readonly timeoutMs?: number;
}

export interface AppendOptions {
  readonly streams?: readonly string[];
  /** Retrying an append with the same key never stores it twice. Generated when absent. */
  readonly key?: IdempotencyKey;
}

const unwrap = <T>(r: LogResult<T>): T => {
  if (!r.ok) throw new LogError(r.failure);
  return r.value;
};

export { LogError };

export class WormLog {
  readonly clientId: string;
  private seq = 0;
  private readonly readConfig: ReadConfig;
  private readonly appendConfig: AppendConfig;

  constructor(private readonly options: WormLogOptions) {
    this.clientId = options.clientId ?? randomUUID();
    this.readConfig = { ...READ_DEFAULTS, ...options.read, log: options.log, segmentSize: options.client.segmentSize };
    this.appendConfig = { ...APPEND_DEFAULTS, ...options.append, log: options.log };
  }

  /** Create the log's space (once per log). */
  static create(client: WorClient, name: string): Promise<void> {
    return client.createSpace(name);
  }

  get name(): string {
    return this.options.log;
  }

  /** Append one entry; resolves once it is chosen (durable on a quorum) with its slot. */
  append(payload: Uint8Array, opts: AppendOptions = {}): Promise<Appended> {
    const key = opts.key ?? { client: this.clientId, seq: this.seq++ };
    const streams = opts.streams ?? [];
    const problem = entryProblem({ key, streams });
    if (problem) return Promise.reject(new LogError({ code: "invalid", message: problem }));
    const bytes = entryBytes(key, streams, payload);
    if (bytes > LIMITS.valueBytesMax) {
      const message = `entry of ${bytes} bytes (payload ${payload.length}) exceeds the ${LIMITS.valueBytesMax} bytes a log slot holds (payload, key and stream tags)`;
      return Promise.reject(new LogError({ code: "tooLarge", message }));
    }
    return this.run(append(this.appendConfig, { key, streams, payload }), `append to ${this.name}`);
  }

  /** What slot `slot` holds now (no waiting, no filling). */
  async read(slot: number): Promise<SlotRead> {
    return (await this.run(readSlots(this.readConfig, slot, slot + 1), `read of ${this.name}[${slot}]`))[0]!;
  }

  /** Slots [from, to) settled for good: waits for appends in flight and fills holes that stay empty
   *  past the hole timeout. Only for ranges below the tail. */
  readRange(from: number, to: number): Promise<SettledRead[]> {
    return this.run(readSettled(this.readConfig, from, to), `read of ${this.name}[${from}..${to})`);
  }

  /** Entries of one stream in [from, to) (to: the tail), following backpointers. */
  readStream(tag: string, from = 0, to?: number): Promise<StreamEntry[]> {
    return this.run(readStream(this.readConfig, tag, from, to), `read of stream ${tag} of ${this.name}`);
  }

  /** The next slot to be issued (from the sequencer), or, read-only, one past the last chosen slot. */
  async tail(): Promise<number> {
    const t = this.options.tokens;
    const what = `tail of ${this.name}`;
    if (!t) return this.run(scanTail(this.readConfig), what);
    return unwrap(await bounded(t.grant(this.options.log, { asks: [] }), this.bound(what))).tail;
  }

  /** Entries from slot `from` on, in slot order (fills skipped), following new appends by push. */
  subscribe(from: number, opts: SubscribeOptions = {}): AsyncIterableIterator<SettledRead> {
    return subscribe({ client: this.options.client, tokens: this.options.tokens, config: this.readConfig, bound: this.bound(`subscription to ${this.name}`) }, from, opts);
  }

  /** Trim below `below`: reads there answer trimmed from now on. Resolves with the mark in force. */
  trim(below: number): Promise<number> {
    return this.options.client.trim(this.options.log, below);
  }

  private run<T>(gen: LogGen<LogResult<T>>, what: string): Promise<T> {
    return runLog(gen, this.options.client, this.options.tokens, this.bound(what));
  }

  private bound(what: string): Bound | undefined {
    return this.options.timeoutMs === undefined ? undefined : { timeoutMs: this.options.timeoutMs, what };
  }
}

/** The most bytes an entry takes in its slot, whatever backpointers its token brings. */
function entryBytes(key: IdempotencyKey, streams: readonly string[], payload: Uint8Array): number {
  return encodeEntry({ key, streams: streams.map((tag) => ({ tag, prev: Number.MAX_SAFE_INTEGER - 2 })), payload }).length;
}
