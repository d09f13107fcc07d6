/**
 * The knobs of the world of KV transactions across partitions (worlds/kvtxn.ts): the transaction
 * world's (its faults, coordinators, recoverers and timings: the partitions are its participants),
 * plus the partitions' logs and shards and the bank's mix of transactions.
 */
import { txnSpaceOf } from "../../../apps/kv/core/cross.ts";
import { TXN_ALL_FAULTS, TXN_WORLD_DEFAULTS, type TxnFaults, type TxnWorldOptions } from "./txn-options.ts";

export interface KvTxnFaults extends TxnFaults {
  /** Chance that a commit entry's append fails while its entry is still on its way (it lands later): the partition appends it again. */
  readonly appendAnswerLoss: number;
  /** Chance per append in flight when its partition crashes that it lands all the same. */
  readonly appendLandsAfterCrash: number;
  /** Chance per fault tick that a partition moves to a new node, its old one a zombie for a while
   *  (worlds/kvtxn-move.ts). */
  readonly move: number;
}

export const KVTXN_ALL_FAULTS: KvTxnFaults = { ...TXN_ALL_FAULTS, appendAnswerLoss: 0.05, appendLandsAfterCrash: 0.5, move: 0.01 };

export interface KvTxnWorldOptions extends TxnWorldOptions {
  readonly faults: KvTxnFaults;
  /** A run has from `participantsMin` to `participants` partitions (drawn per seed). */
  readonly participantsMin: number;
  /** Chance that a transfer stays within one partition (one part, on one participant). */
  readonly withinChance: number;
  /** Chance that a coordinator's next transaction is an audit (compares of every balance, no ops). */
  readonly auditChance: number;
  /** The participants' `slackBlocks` (apps/txn/core/participant.ts), drawn per seed from these: with
   *  none, a partition's floor passes a transaction soon after it is decided (the forgetting paths). */
  readonly slackBlocks: readonly number[];
  /** A prepare waits at most this long for its partition's state to be current. */
  readonly prepareWaitMs: number;
  /** A commit entry reaches its log up to this long after its append (more when buggified). */
  readonly appendMs: number;
  /** A new life's shard starts applying its log's suffix up to this long after its restart scan began. */
  readonly playerStartMs: number;
  /** A partition whose append went unanswered tries again after this long. */
  readonly appendRetryMs: number;
  /** A coordinator that does not hear of a move at once hears of it up to this long after the new
   *  node claimed the partition (or when the old node refuses it `moved`); the old node, a zombie,
   *  stops up to this long after the last has heard. */
  readonly zombieMs: number;
  /** A move's old node may be cut off (from its log, or its clients too) from the move on till up
   *  to this long after the new node claimed the partition (worlds/kvtxn-move.ts). */
  readonly zombieCutMs: number;
  /**
   * A prepare that fails (its vote's cast unknown) gives up the keys reserved for it unless the book
   * voted on them. apps/kv/node/kv-participant.ts does not yet (false: the node as it is): a prepare
   * below the participant core's floor votes NO by capture, which the book never sees, so when the
   * capture fails its keys stay locked for good (test/verify/sim-kvtxn.test.ts has the seeds).
   */
  readonly unreserveFailedVotes: boolean;
}

export const KVTXN_WORLD_DEFAULTS: Omit<KvTxnWorldOptions, "seed"> = {
  ...TXN_WORLD_DEFAULTS,
  faults: KVTXN_ALL_FAULTS,
  participants: 3,
  participantsMin: 2,
  accountsPerParticipant: 4,
  coordinators: 2,
  txnsPerCoordinator: 6,
  withinChance: 0.2,
  auditChance: 0.2,
  slackBlocks: [0, 4],
  prepareWaitMs: 60,
  appendMs: 6,
  playerStartMs: 150,
  appendRetryMs: 20,
  zombieMs: 300,
  zombieCutMs: 600,
  unreserveFailedVotes: true,
  faultMs: 1_200,
};

/** The KV of the world, and its transaction space. */
export const KV_NAME = "bank";
export const KVTXN_SPACE = txnSpaceOf(KV_NAME);
