/**
 * WormTX's coordinator as a library (docs/ARCHITECTURE.md §4.3): `commit` runs one transaction over
 * the participants it can reach (apps/txn/core/coordinator.ts) in a segment of a block it claimed;
 * `status`, `resolve` and `list` read (and, resolving, settle) any transaction of the space. It
 * keeps no state but its claimed blocks: any process may coordinate, and two coordinators of one
 * transaction reach the same outcome.
 */
import { randomUUID } from "node:crypto";
import type { CreateSpaceResult } from "../../../wor/core/results.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { TxnIds, claimBlock, lastBlock } from "../core/blocks.ts";
import { type CoordinatorConfig, type Refusal, commitTxn } from "../core/coordinator.ts";
import type { Outcome } from "../core/outcome.ts";
import { TXN_LIMITS, TXN_SEGMENT_SIZE, recordProblem } from "../core/record.ts";
import { type Resolution, findTxn, resolve } from "../core/resolve.ts";
import { type TxnStatus, scanTxns, txnStatus } from "../core/scan.ts";
import { type ParticipantLink, runTxn } from "./driver.ts";
import { TxnError } from "./txn-error.ts";

export interface TxnCoordinatorOptions {
  readonly client: WorClient;
  /** The transaction space (of kind txn). */
  readonly space: string;
  /** How to reach participants by name (e.g. `localParticipants`); none: status, resolve and list only. */
  readonly participants?: ParticipantLink;
  /** A transaction's deadline: after this long anyone may resolve it (default 5 s). */
  readonly timeoutMs?: number;
  /** This coordinator's name in its blocks and records (default: a fresh one). */
  readonly owner?: string;
  readonly retryMs?: number;
  readonly preemptRetriesMax?: number;
}

/** One participant's part of a transaction. */
export interface TxnPart {
  readonly participant: string;
  readonly payload: Uint8Array;
}

const BLOCK_ATTEMPTS_MAX = 8;

export class TxnCoordinator {
  readonly owner: string;
  private readonly ids = new TxnIds();
  private claiming: Promise<void> | undefined;
  private config: Promise<CoordinatorConfig> | undefined;

  constructor(private readonly o: TxnCoordinatorOptions) {
    this.owner = o.owner ?? `coord-${randomUUID()}`;
  }

  /** Create a transaction space (a no-op if it exists as one). */
  static create(client: WorClient, space: string, segmentSize: number = TXN_SEGMENT_SIZE): Promise<CreateSpaceResult> {
    return client.createSpace(space, { kind: "txn", segmentSize });
  }

  /** The space's settings, once its metadata says it is a transaction space. */
  private settings(): Promise<CoordinatorConfig> {
    this.config ??= this.o.client.openSpace(this.o.space, "txn").then((meta) => ({
      space: this.o.space,
      segmentSize: meta.segmentSize,
      retryMs: this.o.retryMs ?? 20,
      preemptRetriesMax: this.o.preemptRetriesMax ?? 8,
    }));
    this.config.catch(() => {
      this.config = undefined;
    });
    return this.config;
  }

  /** Commit a transaction over `parts` (one per participant): its number, its outcome, and the NO
   *  votes known (who refused, and why if it said). */
  async commit(parts: readonly TxnPart[]): Promise<{ readonly txn: number; readonly outcome: Outcome; readonly refusals: readonly Refusal[] }> {
    const cfg = await this.settings();
    const record = { participants: parts.map((p) => p.participant), deadline: Date.now() + (this.o.timeoutMs ?? 5_000), coordinator: this.owner };
    const problem = recordProblem(record, cfg.segmentSize) ?? parts.map((p) => (p.payload.byteLength > TXN_LIMITS.payloadBytesMax ? `payload of ${p.participant} exceeds ${TXN_LIMITS.payloadBytesMax} bytes` : undefined)).find((x) => x);
    if (problem) throw new TxnError({ code: "invalid", message: problem });
    const txn = await this.nextTxn(cfg);
    const r = await runTxn(commitTxn(cfg, { txn, record, payloads: parts.map((p) => p.payload) }), this.o.client, this.o.participants);
    if (r.fenced) this.ids.abandon(txn);
    return { txn, outcome: r.outcome, refusals: r.refusals };
  }

  /** A fresh transaction number; claims the next block when this one runs low. */
  private async nextTxn(cfg: CoordinatorConfig): Promise<number> {
    for (;;) {
      const txn = this.ids.take();
      if (this.ids.left < TXN_LIMITS.blockSegments / 2) void this.claim(cfg).catch(() => undefined);
      if (txn !== undefined) return txn;
      await this.claim(cfg);
    }
  }

  private claim(cfg: CoordinatorConfig): Promise<void> {
    this.claiming ??= runTxn(claimBlock(cfg.space, this.owner, BLOCK_ATTEMPTS_MAX), this.o.client)
      .then((block) => this.ids.add(block))
      .finally(() => {
        this.claiming = undefined;
      });
    return this.claiming;
  }

  /** Transaction `txn` as it stands: record, votes, outcome, who is in doubt. */
  async status(txn: number): Promise<TxnStatus> {
    const cfg = await this.settings();
    const ref = await runTxn(findTxn(cfg.space, cfg.segmentSize, txn, false), this.o.client);
    return runTxn(txnStatus(ref), this.o.client);
  }

  /** Learn `txn`'s outcome; past its deadline (or with `force`), decide it by writing NO into the votes still missing. */
  async resolve(txn: number, force = false): Promise<Resolution> {
    const cfg = await this.settings();
    const ref = await runTxn(findTxn(cfg.space, cfg.segmentSize, txn, true), this.o.client);
    return runTxn(resolve(ref, cfg, force), this.o.client);
  }

  /** Every transaction in the claimed blocks (the last `blocksMax` of them), oldest first. */
  async list(blocksMax = 16): Promise<TxnStatus[]> {
    const cfg = await this.settings();
    const last = await runTxn(lastBlock(cfg.space), this.o.client);
    const K = TXN_LIMITS.blockSegments;
    const out: TxnStatus[] = [];
    for (let block = Math.max(0, last - (blocksMax - 1) * K); block <= last; block += K) {
      out.push(...(await runTxn(scanTxns(cfg.space, cfg.segmentSize, block, block + K), this.o.client)));
    }
    return out;
  }
}
