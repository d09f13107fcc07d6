/**
 * The KV's TypeScript client (docs/ARCHITECTURE.md §4.5). It routes each request to the node of the
 * partition holding its keys (the partition map), over one long-lived Session stream per node
 * (wor/node/request-stream.ts). Results are values, never thrown: `{ ok: true, value }` or
 * `{ ok: false, failure }` with the failure's code (apps/kv/core/messages.ts).
 *
 * A write carries an idempotency key (this client's id and a sequence number): when an attempt's
 * outcome is unknown (`unavailable`, `timeout`), the client tries again with the same key for up to
 * `retryForMs`, and the partition's log stores the transaction once. Reads are tried again too.
 * A range over several partitions asks them in key order until it has `limit` records: each
 * partition's part is linearizable, the whole is not one snapshot.
 *
 * A partition that moved to another node (`worm kv move`) is followed: a request its old node
 * refuses (`wrongPartition`) or cannot answer (`unavailable`) makes the client read the map again
 * (`refreshMap`, ./newest-map.ts); a newer map routes the request again, a write
 * with the same key (the old node's append counts for nothing once the new one claimed the partition).
 * A client that hears of maps otherwise (`adopt`, from a watch of the chain: ./map-watch.ts) does
 * not wait out a paused old node: a request that gets no answer there within `MOVED_GRACE_MS`
 * is routed by the newer map (the old node serves until the new one has claimed the partition).
 *
 * A transaction across partitions goes to its first partition's node, which coordinates it
 * (apps/kv/node/kv-across.ts). Its outcome unknown, it is not tried again (a retry would be another
 * transaction): the failure says so. Its result says whether it committed, not revisions or op
 * responses (apps/kv/core/cross.ts says what such a transaction may hold).
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { nameProblem } from "../../log/core/entry.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, misconfiguration } from "../../../wor/node/credentials.ts";
import { shortReason } from "../../../wor/node/grpc-reason.ts";
import { RequestStream } from "../../../wor/node/request-stream.ts";
import { type KvRecord, type KvTxn, TXN_LIMITS, type TxnResult, txnProblem } from "../core/commands.ts";
import { crossTxnProblem } from "../core/cross.ts";
import { type KeyRange, keyProblem, rangeProblem } from "../core/keys.ts";
import type { KvFailure, KvReply, KvRequest, KvStatus } from "../core/messages.ts";
import { type Partition, type PartitionMap, partitionOf, partitionsOfTxn, partsOf } from "../core/partitions.ts";
import { decodeReplyEnvelope, decodeStatus, encodeRequestEnvelope, encodeStatusRequest } from "../wire/codec.ts";
import { type KvClientStub, makeKvClient } from "../wire/service.ts";
import { type FollowOptions, KvWatchError, type WatchFollow, type Watched, watchParts } from "./kv-watch.ts";
import { NewestMap } from "./newest-map.ts";

export type KvResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: KvFailure };

export interface KvClientOptions extends ClientSecurity {
  readonly map: PartitionMap;
  /** Read the KV's newest map (absent: the client keeps `map`, and a moved partition's requests fail). */
  readonly refreshMap?: () => Promise<PartitionMap>;
  /** The client half of idempotency keys (random by default). */
  readonly clientId?: string;
  /** One attempt's bound (default 5 s). */
  readonly attemptTimeoutMs?: number;
  /** How long a request whose outcome stays unknown is tried again (default 10 s): a node that is
   *  restarting is waited for, backing off from 50 ms to 500 ms between attempts. */
  readonly retryForMs?: number;
  /** How long a connection to a node with calls open may go without hearing from it before a ping
   *  checks it, and how long the ping's answer is waited for (default 10 s): a node paused or cut
   *  off is found within twice that, its calls fail, and a watch there follows its partition. */
  readonly keepaliveMs?: number;
}

/** A write that happened: the partition, its log position, what the transaction did. A transaction
 *  across partitions (`across`) has no position (-1), and its result only says whether it committed. */
export interface Written {
  readonly partition: number;
  /** The position of the batch that holds it (the transaction was applied there, or before it if retried). */
  readonly position: number;
  /** Its seq in this client's idempotency keys (`clientId`, seq). */
  readonly seq: number;
  readonly result: TxnResult;
  /** Its number in the KV's transaction space, and the partitions it wrote. */
  readonly across?: { readonly txn: number; readonly partitions: readonly number[] };
}

/** What a compare-and-set expects of the key: a value (null: absent) or a modRevision. */
export type Expected = { readonly value: Uint8Array | null } | { readonly modRevision: number };

const fail = (code: KvFailure["code"], message: string): KvResult<never> => ({ ok: false, failure: { code, message } });
const UNKNOWN: readonly KvFailure["code"][] = ["unavailable", "timeout"];
/** How long a request in flight at a node a newer map no longer names may still take (`adopt`). */
const MOVED_GRACE_MS = 500;
/** A failure that may mean the partition moved: the map is read again. */
const MAYBE_MOVED: readonly KvFailure["code"][] = ["wrongPartition", "unavailable"];

export class KvClient {
  readonly clientId: string;
  private seq = 0;
  /** The seqs of the writes waiting for an answer. */
  private readonly waiting = new Set<number>();
  private readonly nodes = new Map<string, { readonly stub: KvClientStub; readonly stream: RequestStream<KvRequest, KvReply> }>();
  /** The newest map this client knows. */
  private readonly maps: NewestMap;
  /** A newer map heard of (`adopt`) but not routed by yet: its move may not be served yet. */
  private pushed: PartitionMap | undefined;
  /** Requests in flight, told when a newer map is adopted. */
  private readonly inFlight = new Set<() => void>();

  constructor(private readonly o: KvClientOptions) {
    this.maps = new NewestMap(o.map, o.refreshMap);
    this.clientId = o.clientId ?? randomUUID();
    const problem = nameProblem("a client id", this.clientId);
    if (problem) throw new Error(problem);
  }

  /**
   * A newer map, heard of otherwise than by failing (a watch of the chain: `watchMaps`, ./map-watch.ts).
   * Requests keep going to the nodes they went to (the old node of a moved partition serves until
   * the new one has claimed it), but one that gets no answer there within `MOVED_GRACE_MS` is
   * routed by the newer map from then on, as if the node had not answered (a write keeps its key; a
   * transaction across partitions fails with its outcome unknown).
   */
  adopt(map: PartitionMap): void {
    if (map.epoch <= Math.max(this.map.epoch, this.pushed?.epoch ?? -1)) return;
    this.pushed = map;
    for (const hear of this.inFlight) hear();
  }

  /** A transaction: within one partition, or across several (crossTxnProblem says what those may hold). */
  async txn(txn: KvTxn): Promise<KvResult<Written>> {
    const problem = txnProblem(txn);
    if (problem) return fail("invalid", problem);
    const ps = partitionsOfTxn(this.map, txn);
    const seq = this.seq++;
    this.waiting.add(seq);
    try {
      return await this.write(ps, txn, seq);
    } finally {
      this.waiting.delete(seq);
    }
  }

  private async write(ps: readonly Partition[], txn: KvTxn, seq: number): Promise<KvResult<Written>> {
    const route = (map: PartitionMap) => partitionsOfTxn(map, txn)[0]!;
    const p = ps[0]!;
    // Every seq below the oldest this client still waits for is answered (or given up on).
    const request = (id: number): KvRequest => ({ id, kind: "write", client: this.clientId, seq, ackedBelow: Math.min(...this.waiting), txn });
    if (ps.length > 1) {
      const why = crossTxnProblem(txn);
      if (why) return fail("invalid", why);
      const r = await this.ask(route, request, { again: false, attemptMs: 2 * (this.o.attemptTimeoutMs ?? 5_000) });
      if (!r.ok) return UNKNOWN.includes(r.failure.code) ? fail(r.failure.code, `${r.failure.message} (a transaction across partitions: its outcome is unknown, and it was not tried again)`) : r;
      if (r.value.kind !== "committed") return fail("internal", `node ${p.node} answered a transaction across partitions with a ${r.value.kind}`);
      const result: TxnResult = { succeeded: r.value.succeeded, revision: 0, responses: [] };
      return { ok: true, value: { partition: p.id, position: -1, seq, result, across: { txn: r.value.txn, partitions: ps.map((x) => x.id) } } };
    }
    const r = await this.ask(route, request);
    if (!r.ok) return r;
    if (r.value.kind !== "written") return fail("internal", `node ${p.node} answered a write with a ${r.value.kind}`);
    return { ok: true, value: { partition: p.id, position: r.value.position, seq, result: r.value.result } };
  }

  /** Put `value` at `key`: the revision it made, and the record it replaced. */
  async put(key: string, value: Uint8Array): Promise<KvResult<{ readonly revision: number; readonly prev: KvRecord | undefined }>> {
    const r = await this.txn({ compares: [], success: [{ op: "put", key, value }], failure: [] });
    if (!r.ok) return r;
    const x = r.value.result.responses[0];
    return { ok: true, value: { revision: r.value.result.revision, prev: x?.op === "put" ? x.prev : undefined } };
  }

  /** Delete `key`: the revision after it, and the record it deleted (undefined: there was none). */
  async delete(key: string): Promise<KvResult<{ readonly revision: number; readonly prev: KvRecord | undefined }>> {
    const r = await this.txn({ compares: [], success: [{ op: "delete", key }], failure: [] });
    if (!r.ok) return r;
    const x = r.value.result.responses[0];
    return { ok: true, value: { revision: r.value.result.revision, prev: x?.op === "delete" ? x.deleted[0]?.[1] : undefined } };
  }

  /** Put `value` at `key` if it holds what `expected` says: whether it did, and the record that was there. */
  async compareAndSet(key: string, expected: Expected, value: Uint8Array): Promise<KvResult<{ readonly succeeded: boolean; readonly revision: number; readonly current: KvRecord | undefined }>> {
    const compare =
      "modRevision" in expected
        ? ({ key, target: "modRevision", result: "equal", number: expected.modRevision } as const)
        : expected.value === null
          ? ({ key, target: "version", result: "equal", number: 0 } as const)
          : ({ key, target: "value", result: "equal", value: expected.value } as const);
    const r = await this.txn({ compares: [compare], success: [{ op: "put", key, value }], failure: [{ op: "range", key }] });
    if (!r.ok) return r;
    const { succeeded, revision, responses } = r.value.result;
    const x = responses[0];
    const current = x?.op === "put" ? x.prev : x?.op === "range" ? x.found[0]?.[1] : undefined;
    return { ok: true, value: { succeeded, revision, current } };
  }

  /** The record at `key` (undefined: none), linearizable unless `stale`. */
  async get(key: string, opts: { readonly stale?: boolean } = {}): Promise<KvResult<{ readonly record: KvRecord | undefined; readonly revision: number }>> {
    const problem = keyProblem(key);
    if (problem) return fail("invalid", problem);
    const r = await this.read(partitionOf(this.map, key), { key }, opts.stale ?? false);
    if (!r.ok) return r;
    return { ok: true, value: { record: r.value.found[0]?.[1], revision: r.value.revision } };
  }

  /** The records of `range` in key order, at most `limit` (default and most: TXN_LIMITS.rangeLimitMax). */
  async range(range: KeyRange, opts: { readonly limit?: number; readonly stale?: boolean } = {}): Promise<KvResult<{ readonly found: readonly (readonly [string, KvRecord])[]; readonly more: boolean }>> {
    const problem = rangeProblem(range);
    if (problem) return fail("invalid", problem);
    const limit = opts.limit ?? TXN_LIMITS.rangeLimitMax;
    if (!(Number.isSafeInteger(limit) && limit >= 1 && limit <= TXN_LIMITS.rangeLimitMax)) return fail("invalid", `limit must be an integer from 1 to ${TXN_LIMITS.rangeLimitMax}`);
    const found: (readonly [string, KvRecord])[] = [];
    for (const { partition, range: part } of partsOf(this.map, range)) {
      const r = await this.read(partition, { key: part.from, to: part.to ?? "", limit: limit - found.length }, opts.stale ?? false);
      if (!r.ok) return r;
      found.push(...r.value.found);
      if (r.value.more || found.length >= limit) return { ok: true, value: { found, more: true } };
    }
    return { ok: true, value: { found, more: false } };
  }

  /**
   * The changes of `range`, pushed as each node applies them (kv-watch.ts): from each partition's
   * revision in `from` (absent: now; a watch from now starts with an empty batch per partition,
   * naming the revision it starts after). It follows each partition to the node the newest map
   * names when its node stops, restarts or no longer serves it, from the revision after the last
   * one delivered, for up to `retryForMs` without a node (`follow.retryForMs`; `follow: false`: it
   * ends at once instead). Ends with a `KvWatchError`; `return()` stops it.
   */
  watch(range: KeyRange, opts: { readonly from?: ReadonlyMap<number, number>; readonly follow?: false | FollowOptions } = {}): AsyncIterableIterator<Watched> {
    const problem = rangeProblem(range);
    if (problem) throw new KvWatchError("invalid", problem);
    const follow: WatchFollow = {
      retryForMs: this.o.retryForMs ?? 10_000,
      ...opts.follow,
      locate: async (id) => {
        await this.maps.refresh();
        const map = this.pushed && this.pushed.epoch > this.map.epoch ? this.pushed : this.map;
        const p = map.partitions.find((x) => x.id === id);
        return p ? { node: p.node, stub: this.node(p.node).stub } : `the map has no partition ${id} now (epoch ${map.epoch})`;
      },
    };
    return watchParts(
      partsOf(this.map, range).map(({ partition: p, range: part }) => ({ partition: p.id, node: p.node, stub: this.node(p.node).stub, range: { key: part.from, to: part.to ?? "" }, fromRevision: opts.from?.get(p.id) ?? 0 })),
      () => callMetadata(this.o),
      opts.follow === false ? undefined : follow,
    );
  }

  /** Each partition's node's status, in the map's order (a node that does not answer: its failure). */
  status(): Promise<KvResult<KvStatus>[]> {
    return Promise.all(
      this.map.partitions.map(
        (p) =>
          new Promise<KvResult<KvStatus>>((resolve) => {
            const ms = this.o.attemptTimeoutMs ?? 5_000;
            this.node(p.node).stub.status(encodeStatusRequest(), callMetadata(this.o), { deadline: new Date(Date.now() + ms) }, (e, bytes) => {
              const why = !e ? "no answer" : e.code === grpc.status.DEADLINE_EXCEEDED ? `no answer within ${ms} ms` : shortReason(e.details || e.message);
              if (e || !bytes) return resolve(fail("unavailable", `node ${p.node}: ${why}`));
              const s = decodeStatus(bytes);
              resolve(s.ok ? { ok: true, value: s.value } : fail("internal", `node ${p.node}: ${s.error.message}`));
            });
          }),
      ),
    );
  }

  close(): void {
    for (const n of this.nodes.values()) {
      n.stream.close();
      n.stub.close();
    }
    this.nodes.clear();
  }

  private async read(p: Partition, range: { readonly key: string; readonly to?: string; readonly limit?: number }, stale: boolean): Promise<KvResult<Extract<KvReply, { kind: "read" }>>> {
    const r = await this.ask((map) => map.partitions.find((x) => x.id === p.id) ?? p, (id) => ({ id, kind: "read", range, stale }));
    if (!r.ok) return r;
    return r.value.kind === "read" ? { ok: true, value: r.value } : fail("internal", `node ${p.node} answered a read with a ${r.value.kind}`);
  }

  /**
   * Ask the node of the partition `route` picks from the map, again while the outcome is unknown (a
   * write keeps its key) unless not `again`; routed again by a newer map if the node refuses it as
   * another partition's or does not answer (a transaction across partitions only if its first node
   * refused it: then nothing of it happened).
   */
  private async ask(route: (map: PartitionMap) => Partition, request: (id: number) => KvRequest, opts: { readonly again?: boolean; readonly attemptMs?: number } = {}): Promise<KvResult<Exclude<KvReply, { kind: "failed" }>>> {
    const until = Date.now() + (this.o.retryForMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      const p = route(this.map);
      const r = await this.attempt(route, p, request, opts.attemptMs ?? this.o.attemptTimeoutMs ?? 5_000);
      if (r.kind !== "failed") return { ok: true, value: r };
      const pause = Math.min(500, 50 * 2 ** attempt);
      const again = opts.again !== false || r.failure.code === "wrongPartition";
      if (again && MAYBE_MOVED.includes(r.failure.code) && Date.now() < until) {
        await this.maps.refresh();
        if (route(this.map).node !== p.node) continue;
      }
      if (!UNKNOWN.includes(r.failure.code) || opts.again === false || Date.now() + pause >= until) return { ok: false, failure: r.failure };
      if (r.failure.code === "unavailable") await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One attempt at `p`'s node, cut short (unavailable) `MOVED_GRACE_MS` after an adopted map
   *  routes it elsewhere: the old node serves until the new one has claimed the partition, so it
   *  is given that long to answer, but a paused one is not waited out. */
  private async attempt(route: (map: PartitionMap) => Partition, p: Partition, request: (id: number) => KvRequest, timeoutMs: number): Promise<KvReply> {
    let hear = (): void => {};
    let timer: NodeJS.Timeout | undefined;
    const moved = new Promise<KvReply>((resolve) => {
      hear = () => {
        const next = this.pushed;
        if (!next || next.epoch <= this.map.epoch || timer) return;
        const now = route(next);
        if (now.node === p.node) return;
        const why = `partition ${now.id} moved to the node at ${now.node} (map epoch ${next.epoch}), and its old node at ${p.node} did not answer within ${MOVED_GRACE_MS} ms`;
        timer = setTimeout(() => {
          this.maps.offer(next);
          resolve({ id: 0, kind: "failed", failure: { code: "unavailable", message: why } });
        }, MOVED_GRACE_MS);
      };
    });
    hear();
    this.inFlight.add(hear);
    try {
      return await Promise.race([this.node(p.node).stream.request(request, timeoutMs), moved]);
    } finally {
      this.inFlight.delete(hear);
      clearTimeout(timer);
    }
  }

  /** The newest map known. */
  private get map(): PartitionMap {
    return this.maps.map;
  }

  private node(address: string) {
    let n = this.nodes.get(address);
    if (!n) {
      const keepalive = this.o.keepaliveMs ?? 10_000;
      const stub = new makeKvClient(address, channelCredentials(this.o), { ...CHANNEL_OPTIONS, ...channelOptions(this.o), "grpc.keepalive_time_ms": keepalive, "grpc.keepalive_timeout_ms": keepalive });
      const stream = new RequestStream<KvRequest, KvReply>({
        server: `the KV node at ${address}`,
        open: () => stub.session(callMetadata(this.o)),
        encode: encodeRequestEnvelope,
        frameBytes: (f) => (f.kind === "write" ? 64 + f.txn.success.reduce((s, o) => s + 3 * o.key.length + (o.op === "put" ? o.value.length : 0), 0) : 64),
        decode: (bytes) => {
          const d = decodeReplyEnvelope(bytes);
          return d.ok ? { ok: true, value: d.value.map((reply) => ({ id: reply.id, reply })) } : d;
        },
        cutOff: (f, message, why) => ({ id: f.id, kind: "failed", failure: { code: why === "timeout" ? "timeout" : why === "refused" ? "invalid" : "unavailable", message } }),
        refusal: (r) => (r.kind === "failed" ? r.failure.message : "?"),
        busy: (n, limit) => ({ id: 0, kind: "failed", failure: { code: "unavailable", message: `${n} requests pending on the stream to ${address} (limit ${limit})` } }),
        refused: (reason) => misconfiguration(`the KV node at ${address}`, reason, this.o),
      });
      n = { stub, stream };
      this.nodes.set(address, n);
    }
    return n;
  }
}
