/**
 * The replicated state (docs/ARCHITECTURE.md §4.2): the state machine, the session table of first
 * results (./sessions.ts), the position (every slot below it applied) and how far the state is from
 * its next checkpoint. Everything here follows from the log's prefix below `position` alone, so
 * replicas at equal positions hold equal states and yield equal snapshots (equal digests), and
 * every replica checkpoints at the same positions: every `checkpointCommands` commands or
 * `checkpointBytes` bytes of log payload.
 *
 * A snapshot is a header chunk (position, counters, how many session chunks follow), the session
 * table's chunks, then the machine's.
 */
import { ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import type { AnyMachine, SnapshotSink, StateMachine } from "./machine.ts";
import type { Proposal, SmrRecord } from "./records.ts";
import { type SessionLimits, Sessions } from "./sessions.ts";

export interface StateLimits extends SessionLimits {
  /** A checkpoint is due after this many commands… */
  readonly checkpointCommands: number;
  /** …or this many bytes of log payload, whichever comes first. */
  readonly checkpointBytes: number;
}

/** A command's outcome: its (first) result, or why it has none. */
export type Outcome = { readonly ok: true; readonly result: Uint8Array } | { readonly ok: false; readonly code: "expired" | "invalid"; readonly message: string };

export class ReplicatedState {
  position = 0;
  private commands = 0;
  private bytes = 0;
  private sm: StateMachine<unknown, unknown, unknown, unknown>;
  private sessions: Sessions;

  constructor(
    private readonly machine: AnyMachine,
    private readonly limits: StateLimits,
  ) {
    this.sm = machine.create();
    this.sessions = new Sessions(limits);
  }

  /** The first result of `(client, seq)` if it was applied, or `expired`. */
  find(client: string, seq: number): Uint8Array | "expired" | undefined {
    return this.sessions.find(client, seq);
  }

  get clients(): number {
    return this.sessions.size;
  }

  query(q: Uint8Array): Uint8Array | DecodeError {
    const v = this.machine.query.decode(q);
    return v instanceof DecodeError ? v : this.machine.answer.encode(this.sm.query(v));
  }

  /**
   * Apply the value of slot `position` (`record` undefined: a fill, or bytes that are no record),
   * `payloadBytes` long. Each proposal's outcome goes to `each`, with `executed` false for a retry
   * answered from the session table. Returns whether a checkpoint is due at the new position.
   */
  apply(record: SmrRecord | undefined, payloadBytes: number, each: (p: Proposal, o: Outcome, executed: boolean) => void): boolean {
    this.position++;
    this.bytes += payloadBytes;
    if (record?.kind === "batch") {
      for (const p of record.proposals) {
        this.commands++;
        const first = this.sessions.find(p.client, p.seq);
        if (first === "expired") each(p, { ok: false, code: "expired", message: `command ${p.client}#${p.seq} is below what its client acknowledged: its result is forgotten` }, false);
        else if (first !== undefined && !planted("applyRetryTwice")) each(p, { ok: true, result: first }, false);
        else {
          const c = this.machine.command.decode(p.command);
          if (c instanceof DecodeError) {
            each(p, { ok: false, code: "invalid", message: `command ${p.client}#${p.seq}: ${c.message}` }, false);
            continue;
          }
          const result = this.machine.result.encode(this.sm.apply(c));
          this.sessions.record(p.client, p.seq, p.ackedBelow, result);
          each(p, { ok: true, result }, true);
        }
      }
    }
    if (this.commands < this.limits.checkpointCommands && this.bytes < this.limits.checkpointBytes) return false;
    this.commands = 0;
    this.bytes = 0;
    return true;
  }

  /** The state now as snapshot chunks, labelled with `position` (frozen: later applies do not change them). */
  snapshot(position: number): Iterable<Uint8Array> {
    const sessions = this.sessions.encode();
    const w = new ByteWriter();
    for (const x of [position, this.commands, this.bytes, sessions.length]) w.varint(x);
    return chain([w.done(), ...sessions], this.sm.snapshot());
  }

  /** Restore a snapshot of `position`: the state is replaced at the sink's `end`, if all went well. */
  restorer(position: number): SnapshotSink {
    const sessions = new Sessions(this.limits);
    let header: { counters: [number, number]; sessionChunks: number } | undefined;
    let seen = 0;
    let sm: SnapshotSink | undefined;
    return {
      chunk: (bytes) => {
        if (header === undefined) {
          const h = readAll(bytes, (r) => [r.varint(), r.varint(), r.varint(), r.varint()] as const);
          if (h instanceof DecodeError) return `snapshot header: ${h.message}`;
          if (h[0] !== position) return `the snapshot is of position ${h[0]}, not ${position}`;
          header = { counters: [h[1], h[2]], sessionChunks: h[3] };
          return undefined;
        }
        if (seen++ < header.sessionChunks) return sessions.decodeChunk(bytes);
        sm ??= this.sm.restore();
        return sm.chunk(bytes);
      },
      end: () => {
        if (header === undefined || seen < header.sessionChunks) return "the snapshot ended early";
        const problem = (sm ?? this.sm.restore()).end();
        if (problem) return problem;
        this.sessions = sessions;
        [this.commands, this.bytes] = header.counters;
        this.position = position;
        return undefined;
      },
    };
  }
}

function* chain(first: readonly Uint8Array[], rest: Iterable<Uint8Array>): Iterable<Uint8Array> {
  yield* first;
  yield* rest;
}
