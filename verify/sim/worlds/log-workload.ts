/**
 * The log world's workload (worlds/log.ts): appenders running the real `append`
 * (some with stream tags; a crashed appender's key is retried by a fresh incarnation with the same
 * key), readers running `readSettled` over growing ranges below the tail (delivering in order),
 * single-slot reads, explicit hole fills and `readStream`, and after the heal one final reader of
 * every slot and stream. Outcomes go to the history (verify/spec/log.ts) and the `LogObserver`.
 */
import { APPEND_DEFAULTS, type AppendConfig, append } from "../../../apps/log/core/append.ts";
import { type IdempotencyKey, keyString } from "../../../apps/log/core/entry.ts";
import type { LogObserver } from "../../../apps/log/core/invariants.ts";
import { type ReadConfig, type SettledRead, fill, readSettled } from "../../../apps/log/core/read.ts";
import type { LogGen, LogResult } from "../../../apps/log/core/steps.ts";
import { isTransient, logOk, run } from "../../../apps/log/core/steps.ts";
import { readStream } from "../../../apps/log/core/stream.ts";
import type { HistoryRecorder } from "../../history/history.ts";
import type { LogInput, LogOutput } from "../../spec/log.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import { type LogWorldOptions, STREAM_TAGS } from "./log-options.ts";
import { LOG_NAME } from "./log-sequencer.ts";

export type Role = "appender" | "reader" | "sequencer";

/** What the workload needs from the world. */
export interface LogHost {
  readonly k: Kernel;
  readonly options: LogWorldOptions;
  readonly observer: LogObserver;
  readonly history: HistoryRecorder<LogInput, LogOutput>;
  spawn(name: string, role: Role): SimProcess;
  runOp<T>(p: SimProcess, gen: LogGen<T>, done: (value: T) => void): void;
}

interface Job {
  readonly key: IdempotencyKey;
  readonly streams: readonly string[];
  readonly payload: Uint8Array;
  tries: number;
}

/** Entry or fill as the history's output. */
const output = (s: SettledRead): LogOutput => (s.kind === "entry" ? { kind: "entry", key: keyString(s.entry.key) } : { kind: "fill" });

/** Tail requests one read makes before it gives up (a recovering sequencer answers late). */
const TAIL_ATTEMPTS_MAX = 8;

/** The tail the sequencer reports (a token request for no tokens). */
export function* tail(): LogGen<LogResult<number>> {
  for (let attempt = 1; ; attempt++) {
    const g = yield* run({ kind: "tokens", log: LOG_NAME, request: { asks: [] } });
    if (g.ok) return logOk(g.value.tail);
    if (attempt >= TAIL_ATTEMPTS_MAX || !isTransient(g.failure.code)) return g;
  }
}

export class LogWorkload {
  private readonly appendCfg: AppendConfig = { ...APPEND_DEFAULTS, log: LOG_NAME, retryMs: 20 };
  readonly readCfg: ReadConfig;
  /** Operations started and not yet finished (a crashed appender's retry counts as one). */
  pending = 0;
  finalDone = false;
  private knownTail = 0;

  constructor(private readonly h: LogHost) {
    this.readCfg = { log: LOG_NAME, segmentSize: h.options.segmentSize, holeTimeoutMs: 150, pollMs: 20, readChunkMax: 16, retryMs: 20 };
  }

  begin(): void {
    for (let i = 0; i < this.h.options.appenders; i++) {
      const state = { proc: this.h.spawn(`ap${i}`, "appender"), seq: 0 };
      const next = () => {
        if (this.h.k.healed || state.seq >= this.h.options.appendsPerAppender) return;
        const streams = i === 0 ? [] : STREAM_TAGS.filter(() => this.h.k.prng.chance(0.5));
        const job: Job = { key: { client: `ap${i}`, seq: state.seq++ }, streams, payload: Uint8Array.of(i, state.seq), tries: 0 };
        this.appendJob(i, state, job, next);
      };
      this.h.k.later(this.h.k.prng.int(20), next);
    }
    for (let j = 0; j < this.h.options.readers; j++) {
      const state = { proc: this.h.spawn(`r${j}`, "reader"), left: this.h.options.readsPerReader, cursor: 0 };
      const next = () => {
        if (this.h.k.healed || state.left-- <= 0) return;
        this.readOp(j, state.proc, state, () => this.h.k.later(this.h.k.prng.int(40), next));
      };
      this.h.k.later(this.h.k.prng.int(40), next);
    }
  }

  private appendJob(i: number, state: { proc: SimProcess }, job: Job, next: () => void): void {
    const h = this.h;
    const k = keyString(job.key);
    const op = h.history.invoke(i, { kind: "append", key: k });
    this.pending++;
    job.tries++;
    state.proc.onDeath = () => {
      // Crashed mid-append: the outcome is unknown; a fresh incarnation retries the same key.
      h.history.unknown(op);
      this.outcome("append:crashed");
      h.k.later(20 + h.k.prng.int(250), () => {
        this.pending--;
        state.proc = h.spawn(`ap${i}`, "appender");
        this.appendJob(i, state, job, next);
      });
    };
    h.runOp(state.proc, append(this.appendCfg, { key: job.key, streams: job.streams, payload: job.payload }), (r) => {
      state.proc.onDeath = undefined;
      this.pending--;
      if (r.ok) {
        h.history.ok(op, { kind: "appended", slot: r.value.slot });
        this.outcome(r.value.duplicate ? "append:duplicate" : "append:ok");
        h.k.check(h.observer.acked(job.key, r.value.slot));
        h.k.later(h.k.prng.int(30), next);
        return;
      }
      h.history.unknown(op);
      this.outcome(`append:failed:${r.failure.code}`);
      // The outcome is unknown: append again with the same key (as the failure tells the caller).
      if (h.k.healed && job.tries > 3) h.k.check([`append of ${k} keeps failing after the heal: ${r.failure.message}`]);
      else if (h.options.keyRetries) h.k.later(20, () => this.appendJob(i, state, job, next));
      else h.k.later(h.k.prng.int(30), next);
    });
  }

  private readOp(j: number, proc: SimProcess, state: { cursor: number }, done: () => void): void {
    const h = this.h;
    const r = h.k.prng.int(100);
    const reader = `r${j}`;
    if (r < 50 || this.knownTail === 0) {
      this.scan(j, proc, state.cursor, 12, (got) => {
        for (const s of got) h.k.check(s.kind === "entry" ? h.observer.deliver(reader, s) : h.observer.observe(s));
        state.cursor += got.length;
        done();
      });
      return;
    }
    const slot = h.k.prng.int(this.knownTail);
    if (r < 70) {
      this.readRange(j, proc, slot, slot + 1, () => done());
      return;
    }
    if (r < 85) {
      const op = h.history.invoke(j, { kind: "fill", slot });
      this.pending++;
      h.runOp(proc, fill(this.readCfg, slot), (f) => {
        this.pending--;
        this.outcome(f.ok ? `fill:${f.value.kind}` : `fill:failed:${f.failure.code}`);
        if (f.ok) {
          h.k.check(h.observer.observe(f.value));
          h.history.ok(op, output(f.value));
        } else h.history.unknown(op);
        done();
      });
      return;
    }
    this.stream(j, proc, h.k.prng.pick(STREAM_TAGS), slot, () => done());
  }

  /** Read [from, from + limit) below the sequencer's tail: per-slot read operations in the history. */
  private scan(client: number, proc: SimProcess, from: number, limit: number, done: (got: readonly SettledRead[]) => void): void {
    const h = this.h;
    this.pending++;
    const self = this;
    function* gen(): LogGen<LogResult<readonly SettledRead[]>> {
      const t = yield* tail();
      if (!t.ok) return t;
      self.knownTail = Math.max(self.knownTail, t.value);
      const to = Math.min(t.value, from + limit);
      return to > from ? yield* self.recordedRange(client, from, to) : logOk([]);
    }
    h.runOp(proc, gen(), (r) => {
      this.pending--;
      this.outcome(r.ok ? "scan:ok" : `scan:failed:${r.failure.code}`);
      if (!r.ok && proc.name === "final") h.k.check([`final read failed after the heal: ${r.failure.message}`]);
      done(r.ok ? r.value : []);
    });
  }

  private readRange(client: number, proc: SimProcess, from: number, to: number, done: (got: readonly SettledRead[]) => void): void {
    this.pending++;
    this.h.runOp(proc, this.recordedRange(client, from, to), (r) => {
      this.pending--;
      this.outcome(r.ok ? "read:ok" : `read:failed:${r.failure.code}`);
      if (r.ok) for (const s of r.value) this.h.k.check(this.h.observer.observe(s));
      done(r.ok ? r.value : []);
    });
  }

  /** `readSettled` with one history read operation per slot (invoked now, answered at the end). */
  private *recordedRange(client: number, from: number, to: number): LogGen<LogResult<SettledRead[]>> {
    const ops = Array.from({ length: to - from }, (_, k) => this.h.history.invoke(client, { kind: "read", slot: from + k }));
    const r = yield* readSettled(this.readCfg, from, to);
    for (let k = 0; k < ops.length; k++) {
      const s = r.ok ? r.value[k] : undefined;
      if (s && s.kind !== "trimmed") this.h.history.ok(ops[k]!, output(s));
      else this.h.history.fail(ops[k]!);
    }
    return r;
  }

  /** `readStream(tag)` over [from, tail): checked against everything the observer saw. A returned
   *  entry is a read of its slot, recorded at the end (the slot was settled before). */
  private stream(client: number, proc: SimProcess, tag: string, from: number, done: (ok: boolean) => void): void {
    const h = this.h;
    const cfg = this.readCfg;
    this.pending++;
    function* gen(): LogGen<LogResult<{ from: number; to: number; got: SettledRead[] }>> {
      const t = yield* tail();
      if (!t.ok) return t;
      const lo = Math.min(from, t.value);
      const r = yield* readStream(cfg, tag, lo, t.value);
      if (!r.ok) return r;
      return logOk({ from: lo, to: t.value, got: r.value.map((e): SettledRead => ({ kind: "entry", slot: e.slot, entry: e.entry })) });
    }
    h.runOp(proc, gen(), (r) => {
      this.pending--;
      this.outcome(r.ok ? "stream:ok" : `stream:failed:${r.failure.code}`);
      if (!r.ok) {
        done(false);
        return;
      }
      h.k.check(h.observer.streamRead(tag, r.value.from, r.value.to, r.value.got));
      for (const s of r.value.got) h.history.ok(h.history.invoke(client, { kind: "read", slot: s.slot }), output(s));
      done(true);
    });
  }

  /** Count an outcome and note it in the event log. */
  private outcome(what: string): void {
    this.h.k.outcome(what);
    this.h.k.record(what);
  }

  /** After the heal: read every slot below the tail, then every stream whole; then the final check. */
  final(): void {
    const h = this.h;
    const proc = h.spawn("final", "reader");
    const client = h.options.appenders + h.options.readers;
    this.scan(client, proc, 0, Number.MAX_SAFE_INTEGER, (got) => {
      for (const s of got) h.k.check(h.observer.observe(s));
      h.k.record(`final reads: ${got.length} slots`);
      let left = STREAM_TAGS.length;
      for (const tag of STREAM_TAGS) {
        this.stream(client, proc, tag, 0, (ok) => {
          if (!ok) h.k.check([`final read of stream ${tag} failed after the heal`]);
          if (--left > 0) return;
          h.k.check(h.observer.finalCheck());
          this.finalDone = true;
        });
      }
    });
  }
}
