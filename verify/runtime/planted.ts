/**
 * Planted bugs: deliberate protocol faults, off by default, that the verifiers must catch (issue #3:
 * "prove the checkers can fail"). A core site reads `planted(name)` (one property lookup); only
 * tests switch a bug on, through `plantBugForTest`.
 */
export const PLANTED_BUGS = [
  /** acceptor: accept a ballot below the promise in force (paxos/acceptor.ts acceptOne). */
  "acceptBelowPromise",
  /** proposer: phase 1 ignores accepted values reported in promises (paxos/proposer.ts PrepareTally). */
  "ignoreAdoptedValue",
  /** proposer: phase 1 adopts the lowest accepted ballot per address, not the highest
   *  (paxos/proposer.ts PrepareTally; issue 10). */
  "adoptLowestBallot",
  /** acceptor: a range prepare's promise is not persisted (paxos/acceptor.ts prepare; issue 10). */
  "forgetRangePromises",
  /** acceptor: an accept checks the address's own promise only, ignoring the range promises over it
   *  (paxos/acceptor.ts acceptOne; issue 10). */
  "ignoreRangePromises",
  /** group commit: release replies before the step's mutations are durable (wor/node/group-commit.ts,
   *  and verify/mc's own acceptor driver). */
  "replyBeforePersist",
  /** group commit: a submission without mutations (a read, a repeated prepare or accept) fires at
   *  once while a batch is in flight, so its reply may report state that is not durable yet
   *  (wor/node/group-commit.ts submit). */
  "readAheadOfSync",
  /** proposer (liveness): a prepare with a rejection waits for acceptors that may be down, and its
   *  deadline failure drops the rejecting ballot (paxos/proposer.ts PrepareTally; issue 8 item 1). */
  "waitOutRejection",
  /** acceptor node: the cache evicts a block whose mutations are not durable yet, so the node reads
   *  it back as the disk has it and forgets a promise or vote it made (wor/node/address-cache.ts). */
  "evictUndurable",
  /** watcher: deliver a value as chosen when one acceptor fewer than a quorum said it accepted it
   *  (wor/core/quorum-learner.ts). */
  "learnBelowQuorum",
  /** watcher: resolve a commit notice without its value against the first value that acceptor said
   *  it accepted, whatever the ballot (wor/core/quorum-learner.ts acceptedBy). */
  "learnUntold",
  /** reader: report a value seen at a single acceptor as written (paxos/proposer.ts ReadTally). */
  "readWithoutQuorum",
  /** acceptor: a trim to a lower mark moves the mark back (paxos/acceptor.ts trim). */
  "trimBackwards",
  /** log appender: a write with an unknown outcome is retried at a new token without settling its
   *  slot (apps/log/core/append.ts). */
  "appendWithoutSettle",
  /** log sequencer: recovery seals and learns keys from the last two segments only, ignoring the
   *  sealed-below mark and the dedupe window (apps/log/core/recovery.ts). */
  "recoverOnlyLastSegments",
  /** log sequencer: one given a rule of whom it gives way to (`yieldsTo`) gives way to every rival,
   *  so the newest writer of a log stops on finding an older one's segment last
   *  (apps/log/core/standby.ts). */
  "yieldToAnyRival",
  /** log sequencer: a tail query is answered at once, without the tail check that no other owner
   *  allocated a segment above ours, so a sequencer another one recovered over reports a tail below
   *  appends the other acknowledged (apps/log/core/sequencer.ts). */
  "unconfirmedTail",
  /** LogPlayer shard: apply an item after `applied` without checking that its `previous` is
   *  `applied` (apps/logplayer/core/shard-core.ts; issue 13). */
  "applyWithoutPrevious",
  /** LogPlayer shard: release a reply (an ack) before the write it reports is durable
   *  (apps/logplayer/core/shard-core.ts; issue 13). */
  "ackBeforePersist",
  /** LogPlayer shard: apply a batch whatever its epoch, so a fenced player's items still land
   *  (apps/logplayer/core/shard-core.ts; issue 13). */
  "ignoreEpoch",
  /** LogPlayer player (liveness): after a shard's rewind the player closes the stream and never opens
   *  another, so that shard stops short of the log (apps/logplayer/core/player-core.ts; issue 13). */
  "rewindWithoutReconnect",
  /** SMR, and a KV shard's batches: a retried command (transaction) is applied again instead of
   *  answered with its first result (apps/smr/core/state.ts apply, apps/kv/core/shard-state.ts stage). */
  "applyRetryTwice",
  /** SMR leader: a linearizable read is answered without the read-index round that confirms no newer
   *  leader exists, so a deposed leader answers from stale state (apps/smr/core/leader.ts). */
  "readWithoutReadIndex",
  /** SMR: a checkpoint is labelled (in its snapshot and its record) one position later than the state
   *  it holds (apps/smr/core/replica.ts). */
  "checkpointWrongPosition",
  /** transaction: the outcome is committed when no vote is NO, though some vote is still missing
   *  (apps/txn/core/outcome.ts decide). */
  "commitWithVoteMissing",
  /** transaction recoverer: writes NO where its read found no vote, even where its capture then found
   *  a late YES, and counts its NO there (apps/txn/core/resolve.ts). */
  "recoverOverwritesYes",
  /** acceptor membership: admit a session whatever epoch it declares, so a quorum of a retired
   *  configuration can still form (wor/node/membership.ts admit; issue 17). */
  "admitStaleEpoch",
  /** client core: after following a new configuration, phase 2 goes on under captures taken under the
   *  old one (wor/core/client-core.ts onReconfigured, wor/core/ops.ts write; issue 17). */
  "phase2AcrossConfigurations",
  /** reconfiguration: the copy to a new acceptor reads one acceptor that stays, not
   *  `copySourcesNeeded` of them (wor/core/configuration.ts copySources; issue 17). */
  "copyFromOneSource",
  /** KV: a linearizable read waits for nothing, answering from its shard at once (apps/kv/core/shard-state.ts
   *  readPosition; issue 14). */
  "staleRead",
  /** KV shard: the durable image names the applied position of the image before while holding the
   *  records of now, so a restart applies the last write's rows again (apps/kv/core/shard-state.ts
   *  image; issue 14). */
  "applyTwice",
  /** KV shard: a commit entry of a transaction across partitions already committed here is applied
   *  again (apps/kv/core/shard-state.ts stage). */
  "commitEntryTwice",
  /** KV shard: a batch or commit entry of a map epoch below the shard's owner entry (appended by a
   *  node that had not heard its partition moved) is applied (apps/kv/core/shard-state.ts stage). */
  "applySuperseded",
  /** KV partition: the book votes on a part as if its node still served the partition after it moved
   *  (it ignores `superseded`), so an old node whose prepare's wait applied the new owner entry votes
   *  YES in a transaction the new node's restart scan never saw (apps/kv/core/book.ts judge). */
  "voteWhenMoved",
  /** KV partition: a decision is forgotten (below the scan start) while its locks are still held, so a
   *  late duplicate prepare of it gives them up before its part is applied (apps/kv/core/book.ts
   *  forgetBelow; found by the kvtxn simulator, stop 31). */
  "forgetHeldDecision",
  /** KV partition: a commit releases its part's locks at the decision instead of once the part is
   *  applied, so a prepare reads its keys before the commit's writes (apps/kv/core/book.ts decide). */
  "releaseAtDecide",
  /** log subscription (liveness): a tail its process learned does not make a missing slot below it
   *  stuck, so a token issued at the log's end and never written is never filled, and a reader
   *  waiting for that tail waits out its timeout (apps/log/core/in-order.ts expect). */
  "holeAtTailUnfilled",
] as const;

export type PlantedBug = (typeof PLANTED_BUGS)[number];

const switches: Record<PlantedBug, boolean> = {
  acceptBelowPromise: false,
  ignoreAdoptedValue: false,
  adoptLowestBallot: false,
  forgetRangePromises: false,
  ignoreRangePromises: false,
  replyBeforePersist: false,
  readAheadOfSync: false,
  waitOutRejection: false,
  evictUndurable: false,
  learnBelowQuorum: false,
  learnUntold: false,
  readWithoutQuorum: false,
  trimBackwards: false,
  appendWithoutSettle: false,
  recoverOnlyLastSegments: false,
  yieldToAnyRival: false,
  unconfirmedTail: false,
  applyWithoutPrevious: false,
  ackBeforePersist: false,
  ignoreEpoch: false,
  rewindWithoutReconnect: false,
  applyRetryTwice: false,
  readWithoutReadIndex: false,
  checkpointWrongPosition: false,
  commitWithVoteMissing: false,
  recoverOverwritesYes: false,
  admitStaleEpoch: false,
  phase2AcrossConfigurations: false,
  copyFromOneSource: false,
  staleRead: false,
  applyTwice: false,
  commitEntryTwice: false,
  applySuperseded: false,
  voteWhenMoved: false,
  releaseAtDecide: false,
  forgetHeldDecision: false,
  holeAtTailUnfilled: false,
};

/** Is `bug` switched on? Always false outside tests that plant it. */
export function planted(bug: PlantedBug): boolean {
  return switches[bug];
}

/** TEST ONLY: switch `bug` on for the duration of `fn` (switched off again even if `fn` throws). */
export function plantBugForTest<T>(bug: PlantedBug, fn: () => T): T {
  switches[bug] = true;
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error("plantBugForTest takes a synchronous function");
    return out;
  } finally {
    switches[bug] = false;
  }
}

/**
 * TEST ONLY: `plantBugForTest` for an asynchronous `fn` (a scenario over real sockets), switched off
 * when it settles. Only for a test file whose tests run one at a time: the switch is per process.
 */
export async function plantBugForTestAsync<T>(bug: PlantedBug, fn: () => Promise<T>): Promise<T> {
  switches[bug] = true;
  try {
    return await fn();
  } finally {
    switches[bug] = false;
  }
}

/** TEST ONLY: the bugs currently switched on. */
export function plantedBugs(): PlantedBug[] {
  return PLANTED_BUGS.filter((b) => switches[b]);
}
