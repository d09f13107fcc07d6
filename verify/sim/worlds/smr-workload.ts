/**
 * The SMR world's clients (worlds/smr.ts): each runs a few map operations one after another, put,
 * delete, linearizable get and stale get over a few keys, against a replica it picks at random.
 * An attempt that times out or fails `unavailable` is retried at another replica with the same
 * idempotency key (so a command takes effect once); an operation out of attempts while faults are
 * on ends unknown (a command) or failed (a read); after the heal it retries until it succeeds.
 * After the workload, one client reads every key. Outcomes go to the history (verify/spec/map.ts)
 * and the `SmrObserver`.
 */
import { type MapCommand, mapMachine } from "../../../apps/smr/core/map-machine.ts";
import type { SmrReply } from "../../../apps/smr/core/messages.ts";
import type { SmrObserver } from "../../../apps/smr/core/invariants.ts";
import { type Proposal, keyOf } from "../../../apps/smr/core/records.ts";
import type { HistoryRecorder } from "../../history/history.ts";
import { buggify } from "../../runtime/buggify.ts";
import type { MapInput, MapOutput } from "../../spec/map.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SmrWorldOptions } from "./smr-options.ts";

export type ClientRequest = { readonly kind: "propose"; readonly proposal: Proposal } | { readonly kind: "read"; readonly query: Uint8Array; readonly stale: boolean };

/** What the workload needs from the world. */
export interface SmrHost {
  readonly k: Kernel;
  readonly options: SmrWorldOptions;
  readonly observer: SmrObserver;
  readonly history: HistoryRecorder<MapInput, MapOutput>;
  /** Send `req` from `client` to `replica`; `answer` gets the reply, unless it is lost. */
  request(client: string, replica: string, req: ClientRequest, answer: (reply: SmrReply) => void): void;
}

/** Attempts of one operation while faults are on. */
const ATTEMPTS_MAX = 8;
/** An attempt not answered by then is given up (its outcome unknown). */
const ATTEMPT_MS = 700;
const BACKOFF_MS = 40;

const utf8 = new TextEncoder();
const text = new TextDecoder();

const value = (bytes: Uint8Array): string | null => {
  const v = mapMachine.result.decode(bytes);
  return v instanceof Uint8Array ? text.decode(v) : null;
};

export class SmrWorkload {
  /** Operations started and not finished. */
  pending = 0;
  finalDone = false;
  private running = 0;

  constructor(
    private readonly h: SmrHost,
    /** Called when every client's operations (and the final reads) are done. */
    private readonly finished: () => void,
  ) {}

  begin(): void {
    for (let i = 0; i < this.h.options.clients; i++) {
      const client = { name: `c${i}`, index: i, seq: 0, left: this.h.options.opsPerClient };
      this.running++;
      const next = (): void => {
        if (client.left-- <= 0) return void this.clientDone();
        this.operation(client, this.randomInput(), next);
      };
      this.h.k.later(this.h.k.prng.int(30), next);
    }
  }

  private clientDone(): void {
    if (--this.running > 0) return;
    const client = { name: "cf", index: this.h.options.clients, seq: 0 };
    let left = this.h.options.keys;
    const next = (): void => {
      if (left-- <= 0) {
        this.finalDone = true;
        return void this.finished();
      }
      this.operation(client, { op: "get", key: `k${left}` }, next);
    };
    const start = (): void => (this.h.k.healed ? next() : this.h.k.later(50, start));
    start();
  }

  private randomInput(): MapInput & { stale?: boolean } {
    const p = this.h.k.prng;
    const key = `k${p.int(this.h.options.keys)}`;
    const roll = p.int(100);
    if (roll < 45) return { op: "put", key, value: "" };
    if (roll < 55) return { op: "delete", key };
    return { op: "get", key, ...(roll >= 90 ? { stale: true } : {}) };
  }

  private operation(c: { name: string; index: number; seq: number }, input: MapInput & { stale?: boolean }, done: () => void): void {
    const k = this.h.k;
    this.pending++;
    let req: (reply: SmrReply) => void;
    let request: ClientRequest;
    if (input.op === "get") {
      request = { kind: "read", query: mapMachine.query.encode({ key: input.key }), stale: input.stale === true };
    } else {
      const seq = c.seq++;
      const command: MapCommand = input.op === "put" ? { op: "put", key: input.key, value: utf8.encode(`${c.name}:${seq}`) } : input;
      request = { kind: "propose", proposal: { client: c.name, seq, ackedBelow: seq, command: mapMachine.command.encode(command) } };
      if (input.op === "put") input = { op: "put", key: input.key, value: `${c.name}:${seq}` };
    }
    const id = input.stale ? undefined : this.h.history.invoke(c.index, input);
    const end = (reply: SmrReply | undefined): void => {
      this.pending--;
      k.outcome(`${input.op}${input.stale ? "Stale" : ""}:${reply ? (reply.ok ? "ok" : reply.code) : "gaveUp"}`);
      if (id !== undefined) {
        if (reply?.ok) this.h.history.ok(id, { value: value(reply.value) });
        else if (request.kind === "propose") this.h.history.unknown(id);
        else this.h.history.fail(id);
      }
      if (reply?.ok && request.kind === "propose") k.check(this.h.observer.answered(keyOf(request.proposal), reply.value));
      done();
    };
    const attempt = (n: number): void => {
      if (n >= ATTEMPTS_MAX && !k.healed) return void end(undefined);
      let settled = false;
      const retry = (): void => k.later(BACKOFF_MS + k.prng.int(BACKOFF_MS), () => attempt(n + 1));
      k.later(ATTEMPT_MS, () => {
        if (settled) return;
        settled = true;
        retry();
      });
      req = (reply) => {
        if (settled) return;
        settled = true;
        if (reply.ok) return end(reply);
        if (reply.code === "timeout" || reply.code === "unavailable") return retry();
        k.check([`${c.name}: ${input.op} ${input.key} failed ${reply.code}: ${reply.message}`]);
        end(reply);
      };
      const to = k.prng.int(this.h.options.replicas);
      this.h.request(c.name, `r${to}`, request, (reply) => req(reply));
      // An impatient client: the same request to a second replica at once (two copies of a command).
      if (buggify("sim.smr.eagerRetry")) this.h.request(c.name, `r${(to + 1) % this.h.options.replicas}`, request, (reply) => req(reply));
    };
    attempt(0);
  }
}
