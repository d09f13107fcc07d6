/**
 * What the SMR writes in its log's entries (docs/ARCHITECTURE.md §4.2): a **batch** of proposed
 * commands (one slot, one accept round for the lot) or a **checkpoint record** (a replica holds a
 * snapshot at `position`, with `digest`), the latter on the log's checkpoint stream so readers find
 * the latest by backpointer. The entry around the payload is the log's (apps/log/core/entry.ts).
 *
 *   batch:      [0x01] n × (client str, seq varint, ackedBelow varint, command blob)
 *   checkpoint: [0x02] position varint, digest str, holder str, bytes varint
 */
import { LIMITS } from "../../../paxos/limits.ts";
import { ByteWriter, DecodeError, readAll } from "../../log/core/bytes.ts";
import { ENTRY_LIMITS, nameProblem } from "../../log/core/entry.ts";

/** The log's stream of checkpoint records. */
export const CHECKPOINT_STREAM = "checkpoints";

export const SMR_LIMITS = Object.freeze({
  /** Bytes of a client id (an idempotency key's first half). */
  clientBytesMax: ENTRY_LIMITS.nameBytesMax,
  /** Bytes of one command: it must fit a slot on its own with its key and the entry around it. */
  commandBytesMax: LIMITS.valueBytesMax - 4_096,
  /** Bytes of one query. */
  queryBytesMax: 1 << 20,
  /** Characters of a replica's address (a checkpoint's holder). */
  addressCharsMax: 256,
  /** Commands in one batch. */
  batchCommandsMax: 16_384,
});

/** A command as proposed: its idempotency key `(client, seq)`, and the lowest seq of that client
 *  still waiting for an answer (results below it may be forgotten). */
export interface Proposal {
  readonly client: string;
  readonly seq: number;
  readonly ackedBelow: number;
  readonly command: Uint8Array;
}

/** Replica `holder` stored a snapshot of the state at `position` (every slot below applied). */
export interface CheckpointRecord {
  readonly position: number;
  readonly digest: string;
  readonly holder: string;
  /** The snapshot's size. */
  readonly bytes: number;
}

export type SmrRecord = { readonly kind: "batch"; readonly proposals: readonly Proposal[] } | { readonly kind: "checkpoint"; readonly record: CheckpointRecord };

const BATCH = 0x01;
const CHECKPOINT = 0x02;

export const keyOf = (p: { readonly client: string; readonly seq: number }): string => `${p.client}#${p.seq}`;

/** Why `p` may not be proposed, or undefined. */
export function proposalProblem(p: Proposal): string | undefined {
  const c = nameProblem("client id", p.client);
  if (c) return c;
  if (!Number.isSafeInteger(p.seq) || p.seq < 0) return `seq ${p.seq} is not a non-negative integer`;
  if (!Number.isSafeInteger(p.ackedBelow) || p.ackedBelow < 0 || p.ackedBelow > p.seq) return `ackedBelow ${p.ackedBelow} is not an integer from 0 to seq ${p.seq}`;
  if (p.command.length > SMR_LIMITS.commandBytesMax) return `command of ${p.command.length} bytes (limit ${SMR_LIMITS.commandBytesMax})`;
  return undefined;
}

/** Encoded size of a proposal inside a batch (bounded above). */
export const proposalBytes = (p: Proposal): number => p.client.length * 3 + p.command.length + 32;

export function encodeRecord(r: SmrRecord): Uint8Array {
  const w = new ByteWriter(r.kind === "batch" ? r.proposals.reduce((n, p) => n + proposalBytes(p), 16) : 128);
  if (r.kind === "batch") {
    w.byte(BATCH);
    w.varint(r.proposals.length);
    for (const p of r.proposals) {
      w.str(p.client);
      w.varint(p.seq);
      w.varint(p.ackedBelow);
      w.blob(p.command);
    }
  } else {
    w.byte(CHECKPOINT);
    w.varint(r.record.position);
    w.str(r.record.digest);
    w.str(r.record.holder);
    w.varint(r.record.bytes);
  }
  return w.done();
}

export function decodeRecord(bytes: Uint8Array): SmrRecord | DecodeError {
  return readAll(bytes, (r): SmrRecord | DecodeError => {
    const kind = r.byte();
    if (kind === CHECKPOINT) {
      const record = { position: r.varint(), digest: r.str("digest", 64), holder: r.str("holder", SMR_LIMITS.addressCharsMax), bytes: r.varint() };
      return r.done ? { kind: "checkpoint", record } : new DecodeError("trailing bytes after a checkpoint record");
    }
    if (kind !== BATCH) return new DecodeError(`unknown record kind ${kind}`);
    const n = r.varint();
    if (n > SMR_LIMITS.batchCommandsMax) return new DecodeError(`batch of ${n} commands`);
    const proposals: Proposal[] = [];
    for (let i = 0; i < n; i++) {
      const p = { client: r.str("client id", SMR_LIMITS.clientBytesMax), seq: r.varint(), ackedBelow: r.varint(), command: r.blob("command", SMR_LIMITS.commandBytesMax) };
      const problem = proposalProblem(p);
      if (problem) return new DecodeError(problem);
      proposals.push(p);
    }
    return r.done ? { kind: "batch", proposals } : new DecodeError("trailing bytes after a batch");
  });
}
