/**
 * The sequencer shell: one `SequencerCore` per log, driven with a real `WorClient` and a timer.
 * Used embedded (an appender's own sequencer: single-writer mode, tokens cost no round trip) and
 * behind the sequencer server (many appenders, one sequencer process).
 */
import { WorError, type WorClient } from "../../../wor/node/client.ts";
import { SEQUENCER_DEFAULTS, SequencerCore, type SequencerConfig } from "../core/sequencer.ts";
import type { GrantRequest, LogResult } from "../core/steps.ts";
import type { Grant } from "../core/tokens.ts";
import { registerStep } from "../../../wor/node/driver.ts";
import type { TokenSource } from "./token-source.ts";
import type { SequencerLogStatus } from "../wire/frames.ts";

export interface SequencerNodeOptions {
  readonly client: WorClient;
  /** Unique per sequencer incarnation; written into the allocation metadata of its segments. */
  readonly owner: string;
  /** Where it serves (written with its segments; a standby of the log redirects clients here).
   *  None: embedded, or set later with `advertise`. */
  readonly address?: string;
  readonly config?: Partial<Omit<SequencerConfig, "log" | "owner" | "segmentSize" | "address">>;
}


export class SequencerNode implements TokenSource {
  private readonly cores = new Map<string, SequencerCore>();
  /** Logs whose metadata is being read before their core starts (nothing is written before). */
  private readonly opening = new Map<string, Promise<LogResult<SequencerCore>>>();
  private readonly waiting = new Map<number, (r: LogResult<Grant>) => void>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  /** When `timer` fires (Date.now() ms). */
  private timerAt: number | undefined;
  private closed = false;
  private address: string | undefined;

  constructor(private readonly options: SequencerNodeOptions) {
    this.address = options.address;
  }

  /** Serve at `address` (known once the server is bound; call it before serving: a log first
   *  asked about earlier keeps no address). */
  advertise(address: string): void {
    this.address = address;
  }

  async grant(log: string, request: GrantRequest): Promise<LogResult<Grant>> {
    if (this.closed) return { ok: false, failure: { code: "unavailable", message: "sequencer closed" } };
    const opened = this.cores.get(log) ?? (await this.open(log));
    if (!(opened instanceof SequencerCore)) return opened;
    if (this.closed) return { ok: false, failure: { code: "unavailable", message: "sequencer closed" } };
    const core = opened;
    const id = this.nextId++;
    const p = new Promise<LogResult<Grant>>((resolve) => this.waiting.set(id, resolve));
    core.request(id, request, Date.now());
    this.pump(core);
    return p;
  }

  status(): SequencerLogStatus[] {
    return [...this.cores].map(([log, c]) => ({ log, ...c.status }));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const resolve of this.waiting.values()) resolve({ ok: false, failure: { code: "unavailable", message: "sequencer closed" } });
    this.waiting.clear();
  }

  /** Start the core of `log` once its metadata says it is a log (and gives its segment size). */
  private async open(log: string): Promise<SequencerCore | LogResult<never>> {
    let p = this.opening.get(log);
    if (!p) {
      p = this.options.client.openSpace(log, "log").then(
        (meta): LogResult<SequencerCore> => {
          const c =
            this.cores.get(log) ??
            new SequencerCore({
              ...SEQUENCER_DEFAULTS,
              ...this.options.config,
              log,
              owner: this.options.owner,
              ...(this.address !== undefined ? { address: this.address } : {}),
              segmentSize: meta.segmentSize,
            });
          this.cores.set(log, c);
          return { ok: true, value: c };
        },
        (e: unknown): LogResult<SequencerCore> => {
          if (e instanceof WorError) return { ok: false, failure: e.failure };
          throw e;
        },
      );
      this.opening.set(log, p);
      void p.then(() => this.opening.delete(log));
    }
    const r = await p;
    return r.ok ? r.value : r;
  }

  private pump(core: SequencerCore): void {
    if (this.closed) return;
    const out = core.takeOutputs();
    for (const g of out.grants) {
      const resolve = this.waiting.get(g.id);
      this.waiting.delete(g.id);
      resolve?.(g.result);
    }
    for (const s of out.steps) {
      void registerStep(this.options.client, s.step).then((r) => {
        if (this.closed) return;
        core.onResult(s.id, r);
        this.pump(core);
      });
    }
    this.arm();
  }

  /**
   * Have the timer fire by the soonest wakeup of any core. A timer already set to fire no later
   * stays (firing early only ticks and arms again): arming runs for every grant, and resetting a
   * timer each time costs more than the grant.
   */
  private arm(): void {
    let due: number | undefined;
    for (const c of this.cores.values()) {
      const w = c.nextWakeup();
      if (w !== undefined && (due === undefined || w < due)) due = w;
    }
    if (due === undefined || (this.timerAt !== undefined && this.timerAt <= due)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      const now = Date.now();
      for (const c of this.cores.values()) {
        c.tick(now);
        this.pump(c);
      }
    }, Math.max(0, due - Date.now()));
    this.timer.unref();
  }
}
