/**
 * A replica in a process (docs/ARCHITECTURE.md §4.2): the `ReplicaCore` driven with a real
 * `WorClient` (its register steps), a clock and a timer, a watch of the log (values pushed as the
 * acceptors learn them), the peer links, the local checkpoint store and snapshot fetches. Inputs
 * of one tick are handled together and their outputs go out in one flush (proposals of one tick
 * share a batch).
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { assert } from "../../../verify/runtime/assert.ts";
import { isRegisterStep } from "../../../wor/core/steps.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import { registerStep } from "../../../wor/node/driver.ts";
import type { WatchFeed } from "../../../wor/node/watch-feed.ts";
import type { AnyMachine } from "../core/machine.ts";
import { type PeerMessage, REPLICA_DEFAULTS, type ReplicaConfig, type ReplicaOutputs, type SmrReply } from "../core/messages.ts";
import type { Proposal } from "../core/records.ts";
import { ReplicaCore } from "../core/replica.ts";
import type { SmrStatusReport } from "../wire/codec.ts";
import { CheckpointStore } from "./checkpoint-store.ts";
import { fetchSnapshot } from "./fetch.ts";
import { PeerLinks } from "./peers.ts";
import { OncePerTurn } from "../../../wor/node/once-per-turn.ts";

export interface ReplicaNodeOptions {
  readonly client: WorClient;
  readonly smr: string;
  /** This replica's address ("host:port", as its peers reach it). */
  readonly id: string;
  /** Every replica's address, this one's included. */
  readonly peers: readonly string[];
  readonly machine: AnyMachine;
  /** Where its checkpoints live (classic-level). */
  readonly dataDir: string;
  readonly config?: Partial<Omit<ReplicaConfig, "smr" | "segmentSize" | "id" | "peers" | "incarnation">>;
  /** For the peer links and snapshot fetches. */
  readonly security?: ClientSecurity;
}

export class ReplicaNode {
  readonly core: ReplicaCore;
  private readonly peers: PeerLinks;
  private readonly waiting = new Map<number, (r: SmrReply) => void>();
  private nextReq = 1;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (undefined: not set). */
  private armedAt: number | undefined;
  private readonly flusher = new OncePerTurn(() => this.flush());
  private watch: WatchFeed | undefined;
  private closed = false;

  private constructor(
    private readonly o: ReplicaNodeOptions,
    segmentSize: number,
    private readonly store: CheckpointStore,
  ) {
    const incarnation = randomBytes(6).toString("hex");
    this.core = new ReplicaCore(
      { ...REPLICA_DEFAULTS, ...o.config, smr: o.smr, segmentSize, id: o.id, peers: o.peers, incarnation, seed: randomBytes(4).readUInt32LE() },
      o.machine,
      Date.now(),
    );
    this.peers = new PeerLinks(o.smr, o.id, o.security, this.core.config.heartbeatMs);
  }

  /** Open the SMR's space (refusing another kind), restore the latest local checkpoint, and run. */
  static async start(o: ReplicaNodeOptions): Promise<ReplicaNode> {
    const meta = await o.client.openSpace(o.smr, "smr");
    const store = await CheckpointStore.open(join(o.dataDir, "checkpoints"));
    const node = new ReplicaNode(o, meta.segmentSize, store);
    const latest = store.latest();
    if (latest) {
      const id = node.core.install(latest.position, latest.digest);
      for await (const c of store.chunks(latest.position)) node.core.installChunk(id, c);
      node.core.installEnd(id);
    }
    node.flush();
    return node;
  }

  propose(p: Proposal): Promise<SmrReply> {
    return this.request((req) => this.core.propose(req, p, Date.now()));
  }

  read(query: Uint8Array, stale: boolean): Promise<SmrReply> {
    return this.request((req) => this.core.read(req, query, stale, Date.now()));
  }

  deliver(from: string, messages: readonly PeerMessage[]): void {
    for (const m of messages) this.core.deliver(from, m, Date.now());
    this.schedule();
  }

  status(): SmrStatusReport {
    return { ...this.core.status(), smr: this.o.smr, id: this.o.id, peers: this.o.peers };
  }

  /** The chunks of this replica's checkpoint of `position`, if it holds it. */
  snapshot(position: number): AsyncIterable<Uint8Array> | undefined {
    return this.store.has(position) ? this.store.chunks(position) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.watch?.return();
    this.peers.close();
    for (const resolve of this.waiting.values()) resolve({ ok: false, code: "unavailable", message: "the replica is shutting down" });
    this.waiting.clear();
    await this.store.close();
  }

  private request(start: (req: number) => void): Promise<SmrReply> {
    if (this.closed) return Promise.resolve({ ok: false, code: "unavailable", message: "the replica is shutting down" });
    return new Promise((resolve) => {
      const req = this.nextReq++;
      this.waiting.set(req, resolve);
      start(req);
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.closed) this.flusher.schedule();
  }

  private flush(): void {
    if (this.closed) return;
    const out = this.core.takeOutputs();
    for (const s of out.steps) {
      assert(isRegisterStep(s.step), () => `a replica yielded a ${s.step.kind} step`);
      void registerStep(this.o.client, s.step).then((r) => {
        if (this.closed) return;
        this.core.onResult(s.id, r, Date.now());
        this.schedule();
      });
    }
    for (const { req, reply } of out.replies) {
      this.waiting.get(req)?.(reply);
      this.waiting.delete(req);
    }
    for (const { to, msg } of out.sends) this.peers.send(to, msg);
    if (out.checkpoint) this.save(out.checkpoint);
    if (out.fetch) this.fetch(out.fetch);
    if (out.watch !== undefined) this.watchFrom(out.watch);
    this.arm();
  }

  /** Set the timer for the core's next wakeup, unless it is set for that time already (a flush
   *  runs many times a millisecond under load; the wakeup rarely moves). */
  private arm(): void {
    const at = this.core.nextWakeup();
    if (at === this.armedAt) return;
    clearTimeout(this.timer);
    this.armedAt = at;
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.armedAt = undefined;
      this.core.tick(Date.now());
      this.flush();
    }, Math.max(0, at - Date.now()));
  }

  private save(c: NonNullable<ReplicaOutputs["checkpoint"]>): void {
    void this.store.save(c.position, c.chunks).then(
      (meta) => {
        if (this.closed) return;
        this.core.checkpointed(meta.position, meta.digest, meta.bytes);
        this.schedule();
      },
      (e: unknown) => console.error(`replica ${this.o.id}: storing the checkpoint of position ${c.position} failed: ${(e as Error).message}`),
    );
  }

  private fetch(f: NonNullable<ReplicaOutputs["fetch"]>): void {
    const chunk = (bytes: Uint8Array) => this.core.installChunk(f.id, bytes);
    void fetchSnapshot(this.o.smr, f.from, f.position, chunk, this.o.security).then(
      () => this.core.installEnd(f.id),
      (e: unknown) => this.core.installFailed(f.id, (e as Error).message),
    ).finally(() => this.schedule());
  }

  /** Every replica watches the log, the leader too: it writes every command itself, but only the
   *  watch tells it of slots it did not write (a rival's recovery that sealed its segment and
   *  yielded: the core then deposes it, apps/log/core/sequencer.ts `overtaken`). What it writes
   *  itself is left out of its watch (`skipOwn`): it learns those slots from its writes' results,
   *  and one whose result never comes it reads after an election timeout (core/replica.ts). */
  private watchFrom(from: number): void {
    this.watch?.return();
    const feed = this.o.client.watch(this.o.smr, from, { skipOwn: true });
    this.watch = feed;
    void (async () => {
      try {
        for await (const w of feed) {
          this.core.learned(w.index, w.value);
          this.schedule();
        }
      } catch {
        // The feed fell behind or failed: reads carry on, and a new watch starts where we are.
        if (!this.closed && this.watch === feed) setTimeout(() => this.watchFrom(this.core.state.position), 100);
      }
    })();
  }
}
