/**
 * What the SMR replicates (docs/ARCHITECTURE.md §4.2): any deterministic state machine. The protocol
 * never looks inside: commands, results, queries and answers cross it as bytes through the
 * machine's codecs, and a snapshot is a sequence of chunks the protocol stores, digests, ships and
 * feeds back, never holding one whole (a state larger than memory streams).
 */
import type { DecodeError } from "../../log/core/bytes.ts";

export const SNAPSHOT_LIMITS = Object.freeze({
  /** Bytes of one snapshot chunk (a storage value, one message of a snapshot fetch). */
  chunkBytesMax: 2 << 20,
});

/** Receives a snapshot chunk by chunk; the machine's state changes only at `end`. Each call returns
 *  why the bytes are not a snapshot of this machine, or undefined. */
export interface SnapshotSink {
  chunk(bytes: Uint8Array): string | undefined;
  end(): string | undefined;
}

export interface StateMachine<C, R, Q, A> {
  /** Apply one command (deterministic: equal states and commands give equal states and results). */
  apply(command: C): R;
  query(query: Q): A;
  /** The state now, as chunks of at most `SNAPSHOT_LIMITS.chunkBytesMax`, frozen: commands applied
   *  after the call do not change what it yields. Equal states yield equal chunks. */
  snapshot(): Iterable<Uint8Array>;
  /** Replace the state with a snapshot's (the old state stays until the sink's `end`). */
  restore(): SnapshotSink;
}

export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Never throws. */
  decode(bytes: Uint8Array): T | DecodeError;
}

/** A kind of state machine: how to make an empty one, and its codecs. */
export interface Machine<C, R, Q, A> {
  create(): StateMachine<C, R, Q, A>;
  readonly command: Codec<C>;
  readonly result: Codec<R>;
  readonly query: Codec<Q>;
  readonly answer: Codec<A>;
}

// biome-ignore lint/suspicious/noExplicitAny: the protocol is generic over every machine.
export type AnyMachine = Machine<any, any, any, any>;
