/**
 * WormLog: the shared log's client API (docs/ARCHITECTURE.md §4.1). Appends go through a token source (an
 * embedded sequencer for single-writer mode, or a remote one) and one write round; reads, tails,
 * stream reads and subscriptions read the registers directly. Failures are thrown as `LogError`.
 */
import { randomUUID } from "node:crypto";
import { isIndex } from "../../../paxos/limits.ts";
import type { CreateSpaceResult } from "../../../wor/core/results.ts";
import { kindNoun } from "../../../wor/core/space-meta.ts";
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import { APPEND_DEFAULTS, type AppendConfig, type Appended, append } from "../core/append.ts";
import { type IdempotencyKey, entryProblem, entryTooLarge } from "../core/entry.ts";
import { READ_DEFAULTS, type ReadConfig, type SettledRead, type SlotRead, readSettled, readSlots, scanTail } from "../core/read.ts";
import type { LogGen, LogResult } from "../core/steps.ts";
import { type StreamEntry, readStream } from "../core/stream.ts";
import type { Bound } from "../../../wor/node/driver.ts";
import { bounded, runLog } from "./driver.ts";
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
  /** Retrying an append with the same key never stores it twice (within the sequencer's dedupe
   *  window, apps/log/README.md). Generated when absent. */
  readonly key?: IdempotencyKey;
  /** For a retry: no earlier attempt of this key is below this slot (e.g. `tail()` read before the
   *  first attempt). The append is refused (`exhausted`) rather than risk a duplicate when the
   *  sequencer's dedupe window starts above it. */
  readonly since?: number;
}

const unwrap = <T>(r: LogResult<T>): T => {
  if (!r.ok) throw new LogError(r.failure);
  return r.value;
};

export { LogError };

export class WormLog {
  readonly clientId: string;
  private seq = 0;
  /** The read settings, once the log's metadata said it is a log and gave its segment size. */
  private opened: Promise<ReadConfig> | undefined;
  private readonly appendConfig: AppendConfig;
  /** The highest `tail()` answered here: this process's subscriptions fill a hole below it (a token
   *  issued and never written, at the log's end) that a reader here waits for. */
  private tailSeen = 0;
  /** Subscriptions of this log with `own`, told of each append that lands. */
  private readonly appendedListeners = new Set<(r: SettledRead) => void>();

  constructor(private readonly options: WormLogOptions) {
    this.clientId = options.clientId ?? randomUUID();
    this.appendConfig = { ...APPEND_DEFAULTS, ...options.append, log: options.log };
  }

  /**
   * Create the log's space (once per log; again is a no-op). Rejects with `wrongKind` when a space
   * of another kind has the name, or `invalid` when it is a log of another segment size.
   */
  static async create(client: WorClient, name: string, opts: { readonly segmentSize?: number } = {}): Promise<CreateSpaceResult> {
    const r = await client.createSpace(name, { kind: "log", ...(opts.segmentSize !== undefined ? { segmentSize: opts.segmentSize } : {}) });
    if (r.meta.kind !== "log") throw new WorError({ code: "wrongKind", message: `${name} is ${kindNoun(r.meta.kind)}, not a log` });
    if (opts.segmentSize !== undefined && r.meta.segmentSize !== opts.segmentSize) {
      throw new WorError({ code: "invalid", message: `log ${name} exists with segment size ${r.meta.segmentSize}, not ${opts.segmentSize}` });
    }
    return r;
  }

  get name(): string {
    return this.options.log;
  }

  /** The log's segment size (from its metadata; the first call reads it). */
  async segmentSize(): Promise<number> {
    return (await this.open()).segmentSize;
  }

  /** Append one entry; resolves once it is chosen (durable on a quorum) with its slot. */
  async append(payload: Uint8Array, opts: AppendOptions = {}): Promise<Appended> {
    const key = opts.key ?? { client: this.clientId, seq: this.seq++ };
    const streams = opts.streams ?? [];
    const problem = entryProblem({ key, streams }) ?? (opts.since === undefined || isIndex(opts.since) ? undefined : `since ${opts.since} is not a slot`);
    if (problem) throw new LogError({ code: "invalid", message: problem });
    const tooLarge = entryTooLarge({ key, streams }, payload);
    if (tooLarge) throw new LogError({ code: "tooLarge", message: tooLarge });
    await this.open();
    const appended = await this.run(append(this.appendConfig, { key, streams, payload, ...(opts.since !== undefined ? { since: opts.since } : {}) }), `append to ${this.name}`);
    // Own-append listeners (a subscription with `own`) get the entry as it is in the log: one
    // without streams is exactly its key and payload (a duplicate's earlier attempt carried the same).
    if (streams.length === 0) for (const l of this.appendedListeners) l({ kind: "entry", slot: appended.slot, entry: { key, streams: [], payload } });
    return appended;
  }

  /** What slot `slot` holds now (no waiting, no filling). */
  async read(slot: number): Promise<SlotRead> {
    return (await this.run(readSlots(await this.open(), slot, slot + 1), `read of ${this.name}[${slot}]`))[0]!;
  }

  /** Slots [from, to) settled for good: waits for appends in flight and fills holes that stay empty
   *  past the hole timeout. Only for ranges below the tail. */
  async readRange(from: number, to: number): Promise<SettledRead[]> {
    return this.run(readSettled(await this.open(), from, to), `read of ${this.name}[${from}..${to})`);
  }

  /** Entries of one stream in [from, to) (to: the tail), following backpointers. */
  async readStream(tag: string, from = 0, to?: number): Promise<StreamEntry[]> {
    return this.run(readStream(await this.open(), tag, from, to), `read of stream ${tag} of ${this.name}`);
  }

  /** The next slot to be issued (from the sequencer), or, read-only, one past the last chosen slot. */
  async tail(): Promise<number> {
    const t = this.options.tokens;
    if (!t) return this.chosenTail();
    const what = `tail of ${this.name}`;
    const tail = unwrap(await bounded(t.grant(this.options.log, { asks: [] }), this.bound(what))).tail;
    if (tail > this.tailSeen) this.tailSeen = tail;
    return tail;
  }

  /** One past the last chosen slot, read from the registers without asking the sequencer (which a
   *  tail query makes recover the log if another writer holds it): a lower bound on the tail, since
   *  slots issued may still be in flight. */
  async chosenTail(): Promise<number> {
    const tail = await this.run(scanTail(await this.open()), `tail of ${this.name}`);
    if (tail > this.tailSeen) this.tailSeen = tail;
    return tail;
  }

  /** Entries from slot `from` on, in slot order (fills skipped), following new appends by push. */
  async *subscribe(from: number, opts: SubscribeOptions = {}): AsyncIterableIterator<SettledRead> {
    const config = await this.open();
    const appended = (l: (r: SettledRead) => void) => {
      this.appendedListeners.add(l);
      return () => void this.appendedListeners.delete(l);
    };
    const tailSeen = () => this.tailSeen;
    yield* subscribe({ client: this.options.client, tokens: this.options.tokens, config, bound: this.bound(`subscription to ${this.name}`), appended, tailSeen }, from, opts);
  }

  /** Trim below `below`: reads there answer trimmed from now on. Resolves with the mark in force. */
  async trim(below: number): Promise<number> {
    await this.open();
    return this.options.client.trim(this.options.log, below);
  }

  /** Check, once, that the space is a log and learn its segment size; nothing is written before. */
  private open(): Promise<ReadConfig> {
    this.opened ??= this.options.client.openSpace(this.options.log, "log").then(
      (meta) => ({ ...READ_DEFAULTS, ...this.options.read, log: this.options.log, segmentSize: meta.segmentSize }),
      (e: unknown) => {
        this.opened = undefined; // a timeout is worth another try on the next call
        throw e instanceof WorError ? new LogError(e.failure) : e;
      },
    );
    return this.opened;
  }

  private run<T>(gen: LogGen<LogResult<T>>, what: string): Promise<T> {
    return runLog(gen, this.options.client, this.options.tokens, this.bound(what));
  }

  private bound(what: string): Bound | undefined {
    return this.options.timeoutMs === undefined ? undefined : { timeoutMs: this.options.timeoutMs, what };
  }
}
