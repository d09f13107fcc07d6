/**
 * A KV node (docs/ARCHITECTURE.md §4.5): one partition's storage shard and its API on one port.
 *
 * - **The shard.** A LogPlayer shard (apps/logplayer/node/shard-server.ts) whose store is a
 *   `KvShardStore` (./shard-store.ts): the partition's log, delivered in order and exactly once by a
 *   LogPlayer, is applied transaction by transaction (apps/kv/core/state.ts) and made durable with
 *   the applied position in one synced batch. The node runs that player itself, delivering to its
 *   own shard (its own appends taken from the appends themselves).
 * - **Writes.** A transaction whose keys are all in the node's partition goes to the partition's
 *   log with the others of its tick, in one batch (./batcher.ts), each with the client's idempotency
 *   key (`client`, `seq`): the log is the commit point, and the shard applies each key once (a retry
 *   in a later batch is answered with its first result). The node answers once its shard has
 *   applied the batch, with what the transaction did (`resultOf`).
 * - **Reads** are linearizable: the node reads the log's tail (the sequencer's next slot: every
 *   append acknowledged before the read began is below it), waits until its shard has applied the
 *   log below it, then answers from the shard. A `stale` read answers from the shard at once.
 * - A key outside the node's partition is refused (`wrongPartition`, naming the map's epoch), before
 *   anything is appended.
 * - **Ownership.** Before it serves, the node claims its partition in the log (./kv-owner.ts): an
 *   owner entry of its map's epoch unless the log has one; its entries carry that epoch. Once its
 *   shard applies an owner entry of a newer epoch (the partition moved), the node is superseded:
 *   it refuses everything (`wrongPartition`, naming the new owner) and votes NO.
 * - **Transactions across partitions** (with `txn`): the node is its partition's participant
 *   (./kv-participant.ts, served on this port), and coordinates the transactions whose first
 *   partition is its own (./kv-across.ts). Writes and linearizable reads of a key a transaction
 *   holds wait until it is decided and applied (./key-gate.ts). Until the participant's restart
 *   scan is done (every transaction an earlier life voted in decided, its commits applied), the
 *   node answers nothing but its status.
 *
 * Sessions are served by wor/node/request-session.ts (requests by id, replies of one tick in one
 * envelope, backpressure and the session budget), with the cluster's TLS, token and id checks.
 */
import * as grpc from "@grpc/grpc-js";
import { type ListeningServer, type SessionServeOptions, admission, statusError } from "../../../wor/node/grpc-serving.ts";
import { RequestSessions } from "../../../wor/node/request-session.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import type { WormLog } from "../../log/node/log-client.ts";
import { bounded } from "../../log/node/driver.ts";
import { LogError } from "../../log/node/log-error.ts";
import type { LogPlayer, PlayerEvent } from "../../logplayer/node/player.ts";
import { startShardServer } from "../../logplayer/node/shard-server.ts";
import { type KvTxn, TXN_LIMITS, opRange, touched } from "../core/commands.ts";
import type { KvFailure, KvReply, KvRequest, KvStatus } from "../core/messages.ts";
import { type PartitionMap, partitionsOf, partitionsOfTxn, rangeOf } from "../core/partitions.ts";
import { encodeTxn } from "../core/records.ts";
import { readPosition } from "../core/shard-state.ts";
import { type DecodedKvRequest, decodeRequestEnvelope, decodeStatusRequest, encodeReplyEnvelope, encodeStatus } from "../wire/codec.ts";
import { type KvHandlers, KvService } from "../wire/service.ts";
import type { KvShardStore } from "./shard-store.ts";
import { Batcher } from "./batcher.ts";
import { kvTrace } from "./kv-trace.ts";
import { snapshotServing } from "./shard-snapshot.ts";
import { watchServing } from "./watch-server.ts";
import { startPartitionPlayer } from "./partition-player.ts";
import { claimPartition, superseded } from "./kv-owner.ts";
import { type Across, across } from "./kv-across.ts";
import { KvParticipant } from "./kv-participant.ts";
import { participantName } from "../core/cross.ts";
import type { ParticipantTimings } from "../../txn/node/participant-shell.ts";
import { participantService } from "../../txn/node/participant-server.ts";
import type { Participant } from "../../txn/node/participant.ts";

export interface KvNodeOptions extends SessionServeOptions {
  /** The partition's log, with a token source for appends. */
  readonly log: WormLog;
  readonly store: KvShardStore;
  readonly map: PartitionMap;
  /** The id of the node's partition in `map`. */
  readonly partition: number;
  /** A request gives up after this long (a write's outcome is then unknown: retry it with the same key). */
  readonly requestTimeoutMs?: number;
  /** The shard's storage failed: the node cannot go on; its owner closes it. */
  readonly onFailure?: (e: Error) => void;
  /** The partition moved to another node (the log says so): this node refuses everything from now on (`why` says where it went). */
  readonly onMoved?: (why: string) => void;
  /** Run the partition's LogPlayer here, delivering to this node's shard at `address` (its
   *  "host:port" as the player dials it: fixed, since a player group names its shards). */
  readonly player?: { readonly client: WorClient; readonly address: string; readonly security?: ClientSecurity; readonly onEvent?: (e: PlayerEvent) => void };
  /** Take part in transactions across partitions, in the KV's transaction space `space` (absent:
   *  they are refused). `security` reaches the other partitions' nodes. */
  readonly txn?: {
    readonly client: WorClient;
    readonly space: string;
    readonly security?: ClientSecurity;
    readonly timings?: ParticipantTimings;
    /** The participants of this process's nodes, by name: this node adds its own (waiting for its
     *  restart scan, as on its port) while it serves, and calls the others directly. */
    readonly colocated?: Map<string, Participant>;
    /** Read the KV's newest map: where the other partitions' nodes are after a move. */
    readonly refreshMap?: () => Promise<PartitionMap>;
  };
}

export interface KvNode extends ListeningServer {
  /** The partition's player, when the node runs it: resolves when it stops on its own (fenced by a newer one, refused). */
  readonly player?: LogPlayer;
  /** The partition as a participant of transactions across partitions (with `txn`), once its restart scan is done. */
  readonly participant?: KvParticipant;
}

const KV_NODE_DEFAULTS = Object.freeze({ requestTimeoutMs: 10_000 });

const failed = (id: number, code: KvFailure["code"], message: string): KvReply => ({ id, kind: "failed", failure: { code, message } });

export async function startKvNode(o: KvNodeOptions): Promise<KvNode> {
  const { store, map, log } = o;
  const mine = map.partitions.find((p) => p.id === o.partition);
  if (!mine) throw new Error(`partition ${o.partition} is not in the map (epoch ${map.epoch})`);
  const timeoutMs = o.requestTimeoutMs ?? KV_NODE_DEFAULTS.requestTimeoutMs;
  const sessions = new RequestSessions<DecodedKvRequest, KvReply>(o.budget);
  const batcher = new Batcher(log, map.epoch);
  /** Why this node no longer serves its partition (the log names a newer owner), or undefined. */
  const moved = (): string | undefined => superseded(store, mine, map.epoch);
  const admit = admission(o, "kv");

  /** Why `txn` cannot be appended to this partition's log, or undefined. */
  const placement = (txn: KvTxn): string | undefined => {
    const ps = partitionsOfTxn(map, txn);
    if (ps.length === 1 && ps[0]!.id === mine.id) return undefined;
    if (ps.length === 1) return `the transaction's keys are in partition ${ps[0]!.id}, not ${mine.id} (map epoch ${map.epoch})`;
    if (ps[0]!.id !== mine.id) return `a transaction across partitions ${ps.map((p) => p.id).join(", ")} is coordinated by its first partition's node, ${ps[0]!.id}'s, not ${mine.id}'s (map epoch ${map.epoch})`;
    return o.txn ? "across" : `the transaction spans partitions ${ps.map((p) => p.id).join(", ")} (map epoch ${map.epoch}), and this node takes no part in transactions across partitions`;
  };

  /** `p` within `timeoutMs` (a `timeout` LogError past it); a wait on the store gets the signal that
   *  lets its waiter go then (aborted when the wait fails: a signal per wait, not a timer). */
  const within = async <T>(p: (signal: AbortSignal) => Promise<T>, what: string): Promise<T> => {
    const waiter = new AbortController();
    try {
      return await bounded(p(waiter.signal), { timeoutMs, what });
    } catch (e) {
      waiter.abort(e);
      throw e;
    }
  };

  const asFailure = (id: number, e: unknown, what: string): KvReply => {
    if (e instanceof LogError) {
      const code = e.failure.code === "timeout" ? "timeout" : e.failure.code === "invalid" || e.failure.code === "tooLarge" ? e.failure.code : "unavailable";
      return failed(id, code, `${what}: ${e.failure.message}`);
    }
    if ((e as Error).name === "TimeoutError") return failed(id, "timeout", `${what}: no answer within ${timeoutMs} ms`);
    return failed(id, "internal", `${what}: ${(e as Error).message}`);
  };

  /** Set once the node serves its API: the participant's restart scan is done. */
  let participant: KvParticipant | undefined;
  let coordinating: Across | undefined;
  let isReady = false;
  /** Resolves once the participant is open. It exists before the server answers anything: the server
   *  listens before the player starts and the restart scan runs, and a request that came meanwhile
   *  waits for them (a write let through then went to the log ahead of the commits the scan was
   *  about to append, under locks it knew nothing of). */
  let markOpened: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    markOpened = resolve;
  });
  const ready = async (what: string): Promise<void> => {
    if (isReady) return;
    await within((signal) => Promise.race([opened, new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))]), `${what}: the node's restart scan`);
  };
  /** The participant served on this port: its calls wait for the restart scan. */
  const served: Participant = {
    name: participantName(mine.id),
    prepare: async (request) => {
      await ready(`prepare of transaction ${request.txn}`);
      return participant!.prepare(request);
    },
    commit: async (space, txn) => {
      await ready(`commit of transaction ${txn}`);
      return participant!.commit(space, txn);
    },
    abort: async (space, txn) => {
      await ready(`abort of transaction ${txn}`);
      return participant!.abort(space, txn);
    },
  };
  const participants = o.txn ? participantService({ ...o, participant: served }) : undefined;
  o.txn?.colocated?.set(served.name, served);
  /** Out of this process's participants (once it stops, it is reached through its port, or not). */
  const leaveColocated = () => {
    if (o.txn?.colocated?.get(served.name) === served) o.txn.colocated.delete(served.name);
  };

  const write = async (r: Extract<KvRequest, { kind: "write" }>): Promise<KvReply> => {
    const what = `write ${r.client}#${r.seq}`;
    try {
      await ready(what);
      const way = participant && (await within((signal) => participant!.gate.admit(touched(r.txn), signal), `${what}: keys locked by a transaction across partitions`));
      kvTrace?.({ ev: "admit", client: r.client, seq: r.seq, keys: r.txn.success.map((o) => o.key) });
      const appending = batcher.propose({ client: r.client, seq: r.seq, ackedBelow: r.ackedBelow, txn: encodeTxn(r.txn) });
      let position: number;
      try {
        position = await bounded(appending, { timeoutMs, what: `${what}: append to ${log.name}` });
        await within((signal) => store.whenApplied(position, signal), `${what}: its shard applying position ${position}`);
      } catch (e) {
        if (way) participant!.settleLater(way, appending);
        throw e;
      }
      if (way) participant!.gate.settled(way);
      kvTrace?.({ ev: "written", client: r.client, seq: r.seq, position });
      const result = store.resultOf(r.client, r.seq);
      const gone = result === undefined && moved();
      if (gone) return failed(r.id, "wrongPartition", `${what}: ${gone}`);
      if (result === "expired") return failed(r.id, "invalid", `${what}: below what its client acknowledged (a retry of a write it gave up on): its result is forgotten`);
      if (!result) return failed(r.id, "internal", `${what}: the shard applied position ${position} of ${log.name}, its batch, without it`);
      return { id: r.id, kind: "written", position, result };
    } catch (e) {
      return asFailure(r.id, e, what);
    }
  };

  const writeAcross = async (r: Extract<KvRequest, { kind: "write" }>): Promise<KvReply> => {
    try {
      await ready(`write ${r.client}#${r.seq}`);
      const a = await coordinating!.commit(r.txn);
      return a.ok ? { id: r.id, kind: "committed", txn: a.txn, succeeded: a.succeeded } : { id: r.id, kind: "failed", failure: a.failure };
    } catch (e) {
      return asFailure(r.id, e, `write ${r.client}#${r.seq}`);
    }
  };

  const read = async (r: Extract<KvRequest, { kind: "read" }>): Promise<KvReply> => {
    const range = r.range;
    try {
      if (!r.stale) {
        await ready("read");
        if (participant) await within((signal) => participant!.gate.free([opRange(range)], signal), "read: keys locked by a transaction across partitions");
        const tail = await within(() => log.tail(), `read: the tail of ${log.name}`);
        await within((signal) => store.whenApplied(readPosition(tail), signal), `read: its shard applying ${log.name} below ${tail}`);
        const gone = moved();
        if (gone) return failed(r.id, "wrongPartition", `read: ${gone}`);
      }
      const limit = range.limit ?? TXN_LIMITS.rangeLimitMax;
      const rows = store.range(opRange(range), limit + 1);
      return { id: r.id, kind: "read", found: rows.slice(0, limit), more: rows.length > limit, revision: store.revision, position: store.applied };
    } catch (e) {
      return asFailure(r.id, e, "read");
    }
  };

  const handle = (f: DecodedKvRequest): KvReply | (() => Promise<KvReply>) => {
    if (f.kind === "invalid") return failed(f.id, f.error.code === "tooLarge" ? "tooLarge" : "invalid", f.error.message);
    const gone = moved();
    if (gone) return failed(f.id, "wrongPartition", gone);
    if (f.kind === "write") {
      const problem = placement(f.txn);
      if (problem === "across") return () => writeAcross(f);
      return problem ? failed(f.id, "wrongPartition", problem) : () => write(f);
    }
    const outside = partitionsOf(map, opRange(f.range)).find((p) => p.id !== mine.id);
    if (outside) return failed(f.id, "wrongPartition", `keys of the read are in partition ${outside.id}, not ${mine.id} (map epoch ${map.epoch})`);
    return () => read(f);
  };

  const keys = rangeOf(map, mine);
  const status = (): KvStatus => ({
    partition: mine.id,
    from: keys.from,
    ...(keys.to !== undefined ? { to: keys.to } : {}),
    log: log.name,
    mapEpoch: map.epoch,
    applied: store.applied,
    revision: store.revision,
    keys: store.keys,
    lockedKeys: participant?.locks.keys ?? 0,
    inDoubt: participant?.locks.inDoubt ?? 0,
  });

  const watches = watchServing({
    admit,
    store,
    refusal: (range) => {
      const outside = partitionsOf(map, range).find((p) => p.id !== mine.id);
      return outside ? `keys of the watch are in partition ${outside.id}, not ${mine.id} (map epoch ${map.epoch})` : moved();
    },
  });

  const handlers: KvHandlers = {
    watch: watches.handler,
    snapshot: snapshotServing({ admit, store }),
    session(call) {
      const refused = admit(call.metadata);
      if (refused) return void call.emit("error", refused);
      sessions.serve(call, {
        decode: decodeRequestEnvelope,
        unreadable: (e) => failed(0, "invalid", e.message),
        handle,
        busy: (f, n, limit) => failed(f.id, "unavailable", `${n} requests in flight on this session (limit ${limit})`),
        encode: encodeReplyEnvelope,
        replyBytes,
        queuedFramesMax: o.queuedFramesMax,
      });
    },
    status(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeStatusRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      callback(null, encodeStatus(status()));
    },
  };

  const services = [{ definition: KvService, handlers }, ...(participants ? [{ definition: participants.definition, handlers: participants.handlers }] : [])];
  const shard = await startShardServer({ ...o, store, services, ...(o.onFailure ? { onFailure: o.onFailure } : {}) });
  let player: LogPlayer | undefined;
  try {
    if (o.player) {
      // Its own appends reach the player from the appends themselves (the node is the log's only writer).
      player = await startPartitionPlayer({ ...o.player, log, store, shard, mapEpoch: map.epoch, ownAppends: true });
    }
    // The owner entry goes before anything else of this node's, the restart scan's commits included.
    kvTrace?.({ ev: "claim", mapEpoch: map.epoch, applied: store.applied });
    // Not within a request's time: a node new to the partition replays its log first, however long.
    await claimPartition(log, store, map, mine, undefined, timeoutMs);
    kvTrace?.({ ev: "claimed", owner: store.owner ?? null, applied: store.applied });
    // Its player goes on (a wait under way ends as it would), its shard unused: its owner stops it.
    // The nodes of this process reach the partition at its new node from now on, not here.
    store.onOwner = () => {
      const gone = moved();
      if (!gone) return;
      leaveColocated();
      o.onMoved?.(gone);
    };
    if (o.txn) {
      // The restart scan needs the shard served and its log delivered: commits it finds are applied through them.
      const t = o.txn;
      participant = await KvParticipant.open({ ...(t.timings ?? {}), name: served.name, space: t.space, client: t.client, log, store, mapEpoch: map.epoch, superseded: moved });
      coordinating = across({
        client: t.client,
        space: t.space,
        map,
        participant,
        timeoutMs,
        ...(t.colocated ? { colocated: t.colocated } : {}),
        ...(t.security ? { security: t.security } : {}),
        ...(t.refreshMap ? { refreshMap: t.refreshMap } : {}),
      });
    }
    isReady = true;
    markOpened();
  } catch (e) {
    leaveColocated();
    player?.stop();
    await participant?.close();
    await shard.close();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    port: shard.port,
    ...(player ? { player } : {}),
    ...(participant ? { participant } : {}),
    close: () => {
      leaveColocated();
      player?.stop();
      coordinating?.close();
      void participant?.close();
      watches.endAll("the KV node is stopping: watch again from the last revision seen");
      return (closing ??= sessions.shutdown(() => (participants ? participants.shutdown(() => shard.close()) : shard.close())));
    },
  };
}

/** An upper-ish estimate of a reply's encoded bytes (the session budget counts queued replies by it). */
function replyBytes(r: KvReply): number {
  const records = (rs: readonly (readonly [string, { readonly value: Uint8Array }])[]) => rs.reduce((n, [k, v]) => n + 3 * k.length + v.value.length + 48, 0);
  if (r.kind === "failed") return 32 + 3 * r.failure.message.length;
  if (r.kind === "committed") return 32;
  if (r.kind === "read") return 32 + records(r.found);
  return (
    32 +
    r.result.responses.reduce((n, x) => n + (x.op === "put" ? (x.prev ? x.prev.value.length + 48 : 8) : x.op === "delete" ? records(x.deleted) : records(x.found)), 0)
  );
}
