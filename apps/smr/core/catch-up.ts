/**
 * Catching up from a checkpoint (docs/ARCHITECTURE.md §4.2). A replica whose next slot is trimmed
 * (it was down, or its data was wiped, while the others checkpointed and trimmed) reads the
 * checkpoint records on the log's checkpoint stream by backpointer, from the latest one back to
 * its own position (apps/log/core/stream.ts: the stream's tail comes from the leader's heartbeat,
 * or, on the leader, from its sequencer), and tries their holders, newest position first. A fetch
 * that fails, or a digest that does not match, moves to the next; a replay that finds the log
 * trimmed past the installed checkpoint starts over, and only newer checkpoints qualify then, so
 * it never loops on one it outlived.
 */
import type { Step, StepGen } from "../../../wor/core/steps.ts";
import { READ_DEFAULTS, type ReadConfig } from "../../log/core/read.ts";
import { type LogGen, type LogResult, logOk } from "../../log/core/steps.ts";
import { readStream } from "../../log/core/stream.ts";
import type { Grant } from "../../log/core/tokens.ts";
import { Digest } from "./digest.ts";
import type { SnapshotSink } from "./machine.ts";
import type { ReplicaConfig } from "./messages.ts";
import { CHECKPOINT_STREAM, type CheckpointRecord, decodeRecord } from "./records.ts";
import type { ReplicatedState } from "./state.ts";

/** How the SMR reads its log (no hole is ever filled by a reader: only a new leader's seal fills). */
export const readConfig = (c: ReplicaConfig): ReadConfig => ({
  ...READ_DEFAULTS,
  log: c.smr,
  segmentSize: c.segmentSize,
  holeTimeoutMs: Number.POSITIVE_INFINITY,
  pollMs: c.pollMs,
  readChunkMax: c.readChunkMax,
  retryMs: c.retryMs,
});

/** A follower's answer to the stream read's tail question: the latest record slot it heard of. */
export const heardTail = (slot: number): LogResult<Grant> =>
  slot < 0 ? { ok: false, failure: { code: "unavailable", message: "no checkpoint record known yet" } } : logOk({ tokens: [], tail: slot + 1, streamTails: [slot] });

/** The checkpoints to try, best first: newer than `position`, held by another replica. */
function* checkpointsAbove(c: ReplicaConfig, position: number): LogGen<LogResult<CheckpointRecord[]>> {
  const r = yield* readStream(readConfig(c), CHECKPOINT_STREAM, position);
  if (!r.ok) return r;
  const records: CheckpointRecord[] = [];
  for (const e of r.value) {
    const d = decodeRecord(e.entry.payload);
    if (!("_tag" in d) && d.kind === "checkpoint" && d.record.position > position && d.record.holder !== c.id) records.push(d.record);
  }
  return logOk(records.reverse().sort((a, b) => b.position - a.position));
}

export interface CatchUpHost {
  readonly config: ReplicaConfig;
  readonly state: ReplicatedState;
  now(): number;
  start<T>(gen: StepGen<Step, T>, done: (value: T) => void): void;
  /** Fetch the snapshot of `position` from `from` for install `id`. */
  fetch(f: { readonly id: number; readonly from: string; readonly position: number; readonly digest: string }): void;
  /** Install of a snapshot of `position` done: the state is at `position`. */
  installed(position: number, digest: string): void;
}

interface Installing {
  readonly id: number;
  readonly position: number;
  readonly digest: string;
  readonly hash: Digest;
  readonly sink: SnapshotSink;
}

/** Installing snapshots (a local checkpoint at start, or a peer's) and, while the log is trimmed
 *  under this replica, choosing which to fetch. */
export class CatchUp {
  /** Catching up: the checkpoints left to try (none: find them when `retryAt` comes). */
  private wanted: { candidates: CheckpointRecord[]; retryAt: number } | undefined;
  private installing: Installing | undefined;
  private nextId = 1;

  constructor(private readonly host: CatchUpHost) {}

  /** Not applying the log: catching up or installing. */
  get busy(): boolean {
    return this.wanted !== undefined || this.installing !== undefined;
  }
  get wakeup(): number | undefined {
    return this.wanted && !this.installing && this.wanted.candidates.length === 0 ? this.wanted.retryAt : undefined;
  }

  /** The log is trimmed at the next slot to apply. */
  start(): void {
    this.wanted ??= { candidates: [], retryAt: this.host.now() };
  }

  /** Install a snapshot of `position` with `digest`: its chunks go to `chunk(id, …)`. */
  install(position: number, digest: string): number {
    const id = this.nextId++;
    this.installing = { id, position, digest, hash: new Digest(), sink: this.host.state.restorer(position) };
    return id;
  }
  chunk(id: number, bytes: Uint8Array): void {
    const i = this.installing;
    if (i?.id !== id) return;
    i.hash.update(bytes);
    const problem = i.sink.chunk(bytes);
    if (problem) this.failed(id, problem);
  }
  end(id: number): void {
    const i = this.installing;
    if (i?.id !== id) return;
    const got = i.hash.value();
    const problem = got !== i.digest ? `digest ${got} is not the recorded ${i.digest}` : i.sink.end();
    if (problem) return void this.failed(id, problem);
    this.installing = undefined;
    this.wanted = undefined;
    this.host.installed(i.position, i.digest);
  }
  /** The snapshot could not be had (fetch failed, damaged): try the next checkpoint. */
  failed(id: number, _why: string): void {
    if (this.installing?.id !== id) return;
    this.installing = undefined;
    if (this.wanted) this.fetchNext();
  }

  pump(): void {
    const w = this.wanted;
    if (!w || this.installing || w.candidates.length > 0 || w.retryAt > this.host.now()) return;
    w.retryAt = Number.POSITIVE_INFINITY;
    this.host.start(checkpointsAbove(this.host.config, this.host.state.position), (r) => {
      if (this.wanted !== w) return;
      w.candidates = r.ok ? r.value : [];
      this.fetchNext();
    });
  }

  private fetchNext(): void {
    const w = this.wanted!;
    const next = w.candidates.shift();
    if (!next) {
      w.retryAt = this.host.now() + Math.max(this.host.config.retryMs, this.host.config.heartbeatMs);
      return;
    }
    const id = this.install(next.position, next.digest);
    this.host.fetch({ id, from: next.holder, position: next.position, digest: next.digest });
  }
}
