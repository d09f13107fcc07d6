/**
 * The KV world's clients (worlds/kv.ts), each doing what a KV node does for its requests
 * (apps/kv/node/kv-node.ts) at a node (a shard) picked per attempt:
 *
 * - **writers** (the log's appenders: the log world crashes them at a write, or slows it) draw puts,
 *   deletes and compare-and-sets of one or two keys, append each as an encoded transaction (a batch
 *   of one under the map epoch the writer heard of last) with the real `append` under the key
 *   (writer, seq), wait until the node's shard has applied its position and answer with the shard's
 *   result there. An attempt whose outcome is unknown (a crash, a failed append, the node down or
 *   too slow) is tried again with the same key, so the log keeps it once; after three attempts in
 *   the fault phase the write's outcome stays unknown. An attempt its node refuses because the
 *   partition moved (worlds/kv-move.ts) is tried again at once under the new epoch, not counted.
 * - **readers** take the log's tail (the log world's token step, checked by its observer), wait
 *   until the node's shard has applied the log below it (`readPosition`) and answer a get or a range
 *   scan from it.
 *
 * A request that began waiting at its node after the heal must be answered within its wait
 * (liveness: no fault is left to delay delivery). Once every writer is done, in half the seeds an
 * appender takes one last token and crashes before writing it (nothing is appended after it), and
 * then each reader makes one last read: its tail is above that hole, which its node's player must
 * fill (apps/log/core/in-order.ts `expect`).
 *
 * Each client makes all its requests, one at a time, into the heal phase if they last that long. The
 * history is in verify/spec/kv.ts's terms; the log world's history gets every append attempt and its
 * observer every acknowledged one.
 */
import type { KvOp, KvTxn, OpResponse, TxnResult } from "../../../apps/kv/core/commands.ts";
import { encodeBatch, encodeTxn } from "../../../apps/kv/core/records.ts";
import { type KvShardState, readPosition } from "../../../apps/kv/core/shard-state.ts";
import { APPEND_DEFAULTS, type AppendConfig, append } from "../../../apps/log/core/append.ts";
import { type IdempotencyKey, keyString } from "../../../apps/log/core/entry.ts";
import { type LogGen, type LogResult, isTransient, logOk, run } from "../../../apps/log/core/steps.ts";
import type { HistoryRecorder } from "../../history/history.ts";
import { probe } from "../../runtime/probe.ts";
import type { KvInput, KvOutput } from "../../spec/kv.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import { KvMove } from "./kv-move.ts";
import type { KvWorldOptions } from "./kv-options.ts";
import type { SimKvShard } from "./kv-shard.ts";
import type { LogHost } from "./log-workload.ts";
import { LOG_NAME } from "./log-sequencer.ts";

/** What the clients need of the world. */
export interface KvClientsHost {
  readonly k: Kernel;
  readonly o: KvWorldOptions;
  readonly history: HistoryRecorder<KvInput, KvOutput>;
  /** The log world's record keeping and processes. */
  readonly log: LogHost;
  readonly shards: readonly SimKvShard[];
  /** `shard` answered `result` for the batched transaction `key` in the batch at `position`. */
  answer(position: number, result: TxnResult, shard: SimKvShard, key: { readonly client: string; readonly seq: number }): void;
}

/** A write drawn: its transaction and how its result reads in the spec's terms. */
interface Write {
  readonly input: KvInput;
  readonly txn: KvTxn;
}

/** How long a request waits at its node for the shard to apply a position. */
const WAIT_MS = 1_000;
/** Attempts of a write in the fault phase before its outcome stays unknown (KvClient's default). */
const ATTEMPTS_MAX = 3;
/** Attempts after which a write failing after the heal is a violation. */
const ATTEMPTS_HEALED_MAX = 12;
/** Tail requests one read makes before it gives up (a recovering sequencer answers late). */
const TAIL_ATTEMPTS_MAX = 8;
/** The writers' clients in the log world's history (apart from its final reader's). */
const LOG_CLIENT_BASE = 100;

const utf8 = new TextEncoder();
const text = new TextDecoder();
const valueIn = (r: { readonly value: Uint8Array } | undefined): string | null => (r ? text.decode(r.value) : null);

/** The value before a put or delete of one key, from its response. */
const before = (r: OpResponse): string | null => (r.op === "put" ? valueIn(r.prev) : r.op === "delete" ? valueIn(r.deleted[0]?.[1]) : null);

/** A write's answer in the spec's terms. */
function outputOf(input: KvInput, r: TxnResult): KvOutput {
  if (input.op === "txn") return { succeeded: r.succeeded, before: r.succeeded ? r.responses.map(before) : [] };
  return { value: before(r.responses[0]!) };
}

/** A read's answer from `state`. */
function readFrom(state: KvShardState, input: KvInput): KvOutput {
  if (input.op === "get") return { value: valueIn(state.get(input.key)) };
  if (input.op !== "range") throw new Error(`not a read: ${input.op}`);
  return { found: state.range({ from: input.from, to: input.to }, Number.POSITIVE_INFINITY).map(([k, r]) => [k, text.decode(r.value)] as const) };
}

export class KvClients {
  private readonly appendCfg: AppendConfig = { ...APPEND_DEFAULTS, log: LOG_NAME, retryMs: 20 };
  /** The latest value each key was seen with (what compare-and-sets expect). */
  private readonly seen = new Map<string, string | null>();
  /** Clients that made all their requests. */
  private finished = 0;
  private writersOver = 0;
  /** Readers' last reads, waiting for every writer to be done (and the last token taken). */
  private lastReads: (() => void)[] | undefined = [];
  /** Log keys of attempts under a fresh key each. */
  private attempts = 0;
  /** The partition's moves, and the map epoch each writer appends under. */
  private readonly move: KvMove;

  constructor(private readonly h: KvClientsHost) {
    this.move = new KvMove(h, this.appendCfg, LOG_CLIENT_BASE - 1);
  }

  begin(): void {
    const { k, o, log } = this.h;
    for (let i = 0; i < o.kvWriters; i++) {
      const state = { proc: log.spawn(`w${i}`, "appender"), seq: 0 };
      const next = () => {
        if (state.seq >= o.kvWrites) {
          this.finished++;
          // A move under way ends first: its owner entry is appended before the last token below.
          if (++this.writersOver === o.kvWriters) this.move.whenSettled(() => this.writesOver());
          return;
        }
        this.move.writeBegun();
        const seq = state.seq++;
        this.write(i, state, seq, this.drawWrite(`${i}.${seq}`), () => k.later(k.prng.int(30), next));
      };
      k.later(k.prng.int(20), next);
    }
    for (let j = 0; j < o.kvReaders; j++) {
      const proc = log.spawn(`r${j}`, "reader");
      let left = o.kvReads;
      const next = () => {
        if (left-- === 0) return this.afterWrites(() => this.read(o.kvWriters + j, proc, () => void this.finished++));
        this.read(o.kvWriters + j, proc, () => k.later(k.prng.int(40), next));
      };
      k.later(k.prng.int(40), next);
    }
    if (o.kvWriters === 0) this.writesOver();
  }

  /** Every writer is done: in half the seeds a last token is taken and never written (its appender
   *  crashes), then the readers' last reads go. */
  private writesOver(): void {
    const { k, log } = this.h;
    const go = () => {
      for (const f of this.lastReads ?? []) f();
      this.lastReads = undefined;
    };
    if (!k.prng.chance(0.5)) {
      go();
      return;
    }
    const proc = log.spawn("abandons", "appender");
    log.runOp(proc, run({ kind: "tokens", log: LOG_NAME, request: { asks: [{ key: { client: "abandons", seq: 0 }, streams: [] }] } }), (g) => {
      if (g.ok) {
        probe("kv.tokenAbandonedAtTail");
        k.record(`abandons took slot ${g.value.tokens[0]?.slot} and crashed`);
      }
      k.procs.kill(proc);
      go();
    });
  }

  private afterWrites(f: () => void): void {
    if (this.lastReads) this.lastReads.push(f);
    else f();
  }

  /** Every client made all its requests (some may still be open), and no move is under way. */
  get over(): boolean {
    return this.finished === this.h.o.kvWriters + this.h.o.kvReaders && this.move.settled;
  }

  /** A put, delete or compare-and-set (one or two keys expected, one or two written) with fresh values `v…`. */
  private drawWrite(v: string): Write {
    const { prng } = this.h.k;
    const keys = this.h.o.keys;
    const r = prng.int(100);
    const key = prng.pick(keys);
    if (r < 40) return { input: { op: "put", key, value: v }, txn: { compares: [], success: [{ op: "put", key, value: utf8.encode(v) }], failure: [] } };
    if (r < 55) return { input: { op: "delete", key }, txn: { compares: [], success: [{ op: "delete", key }], failure: [] } };
    const shuffled = [...keys];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = prng.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const expectKeys = shuffled.slice(0, 1 + prng.int(2));
    // The keys it compares, or others (a guarded write), one or two.
    const from = prng.chance(0.5) ? 0 : prng.int(2);
    const writeKeys = shuffled.slice(from, from + 1 + prng.int(2));
    // Mostly what was seen last (so it often succeeds), sometimes a value that never was.
    const expect = expectKeys.map((k) => [k, prng.chance(0.15) ? `${v}?` : (this.seen.get(k) ?? null)] as const);
    const write = writeKeys.map((k, n) => [k, prng.chance(0.2) ? null : `${v}${"xy"[n]}`] as const);
    const txn: KvTxn = {
      compares: expect.map(([key, value]) =>
        value === null ? { key, target: "version", result: "equal", number: 0 } : { key, target: "value", result: "equal", value: utf8.encode(value) },
      ),
      success: write.map(([key, value]): KvOp => (value === null ? { op: "delete", key } : { op: "put", key, value: utf8.encode(value) })),
      failure: [],
    };
    return { input: { op: "txn", expect, write }, txn };
  }

  private write(i: number, state: { proc: SimProcess }, seq: number, w: Write, done: () => void): void {
    const { k, log, history } = this.h;
    const op = history.invoke(i, w.input);
    // A batch of one, under the writer's key and map epoch: half the writes also under that key in
    // the log (its retries through one node stored once), half under a fresh log key each attempt
    // (stored again: the shards' session table must apply it once).
    const client = `w${i}`;
    const logKeyed = k.prng.chance(0.5);
    const txn = encodeTxn(w.txn);
    let key: IdempotencyKey = { client, seq };
    let tries = 0;
    const retry = () => {
      if (!k.healed && tries >= ATTEMPTS_MAX) {
        history.unknown(op);
        this.outcome("write:unknown");
        done();
      } else if (tries >= ATTEMPTS_HEALED_MAX) {
        k.check([`write ${keyString(key)} keeps failing after the heal (${tries} attempts)`]);
        history.unknown(op);
      } else k.later(20, attempt);
    };
    /** Its node refused it (the partition moved, worlds/kv-move.ts): the writer read the map again and
     *  tries the same key at once, under the new epoch. */
    const refused = (why: string) => {
      this.outcome("write:node:moved");
      k.record(`write ${client}#${seq}: ${why}`);
      k.later(1 + k.prng.int(10), attempt);
    };
    const attempt = () => {
      const node = this.node();
      if (!node) return void k.later(20, attempt);
      const epoch = this.move.epochOf(i);
      // A superseded node refuses a write before appending it.
      const gone = this.move.refusal(i, epoch, node.state);
      if (gone) {
        probe("kv.move.refusedBeforeAppend");
        return refused(gone);
      }
      tries++;
      key = logKeyed ? { client: this.move.logClientOf(client, epoch), seq } : { client: `${client}a`, seq: this.attempts++ };
      const payload = encodeBatch(epoch, [{ client, seq, ackedBelow: seq, txn }]);
      const logOp = log.history.invoke(LOG_CLIENT_BASE + i, { kind: "append", key: keyString(key) });
      state.proc.onDeath = () => {
        // Crashed mid-append: its outcome is unknown; a fresh incarnation tries the same key.
        log.history.unknown(logOp);
        this.outcome("write:crashed");
        k.later(20 + k.prng.int(250), () => {
          state.proc = log.spawn(`w${i}`, "appender");
          retry();
        });
      };
      log.runOp(state.proc, append(this.appendCfg, { key, streams: [], payload }), (r) => {
        state.proc.onDeath = undefined;
        if (!r.ok) {
          log.history.unknown(logOp);
          this.outcome(`write:appendFailed:${r.failure.code}`);
          return retry();
        }
        log.history.ok(logOp, { kind: "appended", slot: r.value.slot });
        k.check(log.observer.acked(key, r.value.slot));
        if (r.value.duplicate) this.outcome("write:appendDuplicate");
        const p = r.value.slot;
        const healed = k.healed;
        if ((node.state?.applied ?? p) < p) probe("kv.write.waitedForShard");
        node.whenApplied(
          p,
          WAIT_MS,
          (s) => {
            const result = s.resultOf(client, seq);
            // Its batch applied without it: it landed after a newer owner entry, applied as nothing;
            // refused (the attempt changed nothing: it does not count).
            const moved = result === undefined ? this.move.refusal(i, epoch, s) : undefined;
            if (moved) {
              probe("kv.move.zombieAppliedAsNothing");
              tries--;
              return refused(moved);
            }
            // Appended under an older epoch than its shard's owner, and applied: it landed before the owner entry.
            if (epoch < s.mapEpoch) probe("kv.move.zombieLandedFirst");
            if (!result || result === "expired") return void k.check([`${node.name} applied position ${p} of write ${client}#${seq} but holds no result for it (${result ?? "none"})`]);
            if (tries > 1 && !logKeyed) probe("kv.write.retriedUnderAFreshLogKey");
            this.h.answer(p, result, node, { client, seq });
            const out = outputOf(w.input, result);
            history.ok(op, out);
            this.saw(w.input, out);
            this.outcome(w.input.op === "txn" ? `write:txn:${result.succeeded ? "succeeded" : "failed"}` : `write:${w.input.op}`);
            k.record(`write ${keyString(key)} at ${p} answered by ${node.name}`);
            done();
          },
          (why) => {
            this.outcome(`write:node:${why}`);
            this.stuck(node, p, healed, why, `write ${keyString(key)}`);
            retry();
          },
        );
      });
    };
    attempt();
  }

  private read(client: number, proc: SimProcess, done: () => void): void {
    const { k, log, history, o } = this.h;
    const keys = o.keys;
    let input: KvInput;
    if (k.prng.chance(0.7)) input = { op: "get", key: k.prng.pick(keys) };
    else {
      const from = k.prng.int(keys.length);
      input = { op: "range", from: keys[from]!, to: k.prng.chance(0.5) ? "z" : keys[from + 1 + k.prng.int(keys.length - from)] ?? "z" };
    }
    const op = history.invoke(client, input);
    const node = this.node();
    const failed = (why: string) => {
      history.fail(op);
      this.outcome(`read:${why}`);
      done();
    };
    if (!node) {
      failed("down");
      return;
    }
    log.runOp(proc, tail(log), (t) => {
      if (!t.ok) return failed(`tail:${t.failure.code}`);
      const position = readPosition(t.value);
      node.tailLearned(t.value);
      const healed = k.healed;
      // Its node had not applied below the tail yet: the read waits (the rule under test).
      if ((node.state?.applied ?? position) < position) probe("kv.read.waitedForShard");
      node.whenApplied(
        position,
        WAIT_MS,
        (s) => {
          const out = readFrom(s, input);
          history.ok(op, out);
          this.saw(input, out);
          this.outcome(`read:${input.op}`);
          done();
        },
        (why) => {
          this.stuck(node, position, healed, why, `read ${JSON.stringify(input)}`);
          failed(`node:${why}`);
        },
      );
    });
  }

  /** Liveness: a request that began waiting at its node after the heal, with no fault left to
   *  delay delivery, is answered within the wait. */
  private stuck(node: SimKvShard, position: number, healed: boolean, why: string, what: string): void {
    if (healed && why === "timeout") this.h.k.check([`after the heal, ${what} waited ${WAIT_MS} ms at ${node.name} for position ${position}; it applied only up to ${node.state?.applied}`]);
  }

  /** A node that is up, at random (undefined: none is). */
  private node(): SimKvShard | undefined {
    const up = this.h.shards.filter((s) => s.up);
    return up.length > 0 ? this.h.k.prng.pick(up) : undefined;
  }

  /** Note the values an answer shows. */
  private saw(input: KvInput, out: KvOutput): void {
    if (input.op === "put") this.seen.set(input.key, input.value);
    else if (input.op === "delete") this.seen.set(input.key, null);
    else if (input.op === "get" && "value" in out) this.seen.set(input.key, out.value);
    else if (input.op === "range" && "found" in out) for (const [key, v] of out.found) this.seen.set(key, v);
    else if (input.op === "txn" && "succeeded" in out && out.succeeded) for (const [key, v] of input.write) this.seen.set(key, v);
  }

  /** Count an outcome and note it in the event log. */
  private outcome(what: string): void {
    this.h.k.outcome(what);
    this.h.k.record(what);
  }
}

/** The tail the sequencer reports (a token request for no tokens), checked by the log's observer:
 *  above every append acknowledged before it was asked for. */
function* tail(log: LogHost): LogGen<LogResult<number>> {
  for (let attempt = 1; ; attempt++) {
    const ask = log.observer.tailAsked();
    const g = yield* run({ kind: "tokens", log: LOG_NAME, request: { asks: [] } });
    if (g.ok) {
      log.k.check(log.observer.tailObtained(ask, g.value.tail));
      return logOk(g.value.tail);
    }
    if (attempt >= TAIL_ATTEMPTS_MAX || !isTransient(g.failure.code)) return g;
  }
}
