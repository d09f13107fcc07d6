/**
 * A KV node's writes, batched (docs/ARCHITECTURE.md §4.5): the transactions that arrive in one tick
 * go to the partition's log as one entry (apps/kv/core/records.ts `encodeBatch`), each with its
 * client's idempotency key, so one append round (and one delivery to the shard) serves them all.
 * The shard applies each transaction of a batch once by its key (its session table), so a client's
 * retry may land in any later batch.
 *
 * A batch holds at most `BATCH_LIMITS.proposalsMax` transactions and about `BATCH_BYTES_TARGET`
 * bytes (a log entry is one register value of at most 1 MiB); a transaction larger than that goes
 * alone (and the log refuses it if it does not fit a slot).
 */
import { randomUUID } from "node:crypto";
import type { WormLog } from "../../log/node/log-client.ts";
import { BATCH_LIMITS, encodeBatch } from "../core/records.ts";

export interface Proposal {
  readonly client: string;
  readonly seq: number;
  readonly ackedBelow: number;
  /** The transaction as `encodeTxn` makes it. */
  readonly txn: Uint8Array;
}

/** Bytes a batch grows to before the next transaction starts another. */
const BATCH_BYTES_TARGET = 512 << 10;

interface Waiting {
  readonly proposal: Proposal;
  readonly resolve: (slot: number) => void;
  readonly reject: (e: unknown) => void;
}

export class Batcher {
  /** The idempotency keys of this node's batches: its own client id, a sequence of its own. */
  private readonly client = `kv-batch-${randomUUID()}`;
  private seq = 0;
  private queue: Waiting[] = [];

  /** `mapEpoch`: the map epoch the node serves its partition under; its batches carry it. */
  constructor(
    private readonly log: WormLog,
    private readonly mapEpoch: number,
  ) {}

  /** Append `proposal` with the others of this tick: the position of its batch (the append's
   *  failure rejects it: its outcome is unknown). */
  propose(proposal: Proposal): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ proposal, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    for (let from = 0; from < queue.length; ) {
      let to = from + 1;
      let bytes = queue[from]!.proposal.txn.byteLength;
      while (to < queue.length && to - from < BATCH_LIMITS.proposalsMax && bytes + queue[to]!.proposal.txn.byteLength <= BATCH_BYTES_TARGET) bytes += queue[to++]!.proposal.txn.byteLength;
      const batch = queue.slice(from, to);
      this.log.append(encodeBatch(this.mapEpoch, batch.map((w) => w.proposal)), { key: { client: this.client, seq: this.seq++ } }).then(
        (a) => {
          for (const w of batch) w.resolve(a.slot);
        },
        (e: unknown) => {
          for (const w of batch) w.reject(e);
        },
      );
      from = to;
    }
  }
}
