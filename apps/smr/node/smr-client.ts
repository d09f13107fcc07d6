/**
 * The SMR's TypeScript client (docs/ARCHITECTURE.md §4.2): proposes commands and reads through any
 * replica of a set, typed by the state machine's codecs. Every command carries an idempotency key
 * (this client's id, a sequence number) and the lowest sequence number it still waits for; an
 * attempt that times out, fails `unavailable`, or cannot reach its replica is retried at the next
 * replica with the same key (applied once, answered with its first result), until `timeoutMs`.
 * The client sticks to the replica that answered last, and moves to the leader that replica names
 * (asked by Status now and then: a follower forwards, a hop more). Proposals and reads travel on
 * one long-lived Session stream per replica (./replica-stream.ts), its own or one shared with other
 * clients of the process (`channels`, ./smr-channels.ts); Status is a unary admin call.
 */
import { randomBytes } from "node:crypto";
import { type ClientSecurity, callMetadata, misconfiguration } from "../../../wor/node/credentials.ts";
import { delay } from "../../../wor/node/driver.ts";
import { shortReason } from "../../../wor/node/grpc-reason.ts";
import { DecodeError } from "../../log/core/bytes.ts";
import type { Machine } from "../core/machine.ts";
import type { SmrFailureCode, SmrReply } from "../core/messages.ts";
import { type SmrStatusReport, decodeStatus, encodeStatusRequest } from "../wire/codec.ts";
import type { SmrClientStub } from "../wire/service.ts";
import { type ReplicaStream, type SmrRequest, wasCutOff } from "./replica-stream.ts";
import { SmrChannels } from "./smr-channels.ts";

const SMR_CLIENT_DEFAULTS = Object.freeze({
  /** One attempt at one replica gives up after this long. */
  attemptTimeoutMs: 2_000,
  /** A request gives up after this long (a command's outcome is then unknown). */
  timeoutMs: 15_000,
  /** Pause before retrying elsewhere. */
  retryMs: 50,
  /** After a success, the replica used is asked who leads (Status) at most this often… */
  leaderAskMs: 5_000,
  /** …or this soon after it named no leader (an election under way) or did not answer. */
  leaderRetryMs: 100,
  /** …and the client moves there, unless an attempt there went unanswered this recently (a stale hint). */
  staleHintMs: 3_000,
});

export interface SmrClientOptions extends ClientSecurity {
  readonly smr: string;
  /** Replica addresses "host:port". */
  readonly replicas: readonly string[];
  /** The client half of idempotency keys (by default 96 random bits in 16 characters: every
   *  command in the log carries it, so it is kept short). */
  readonly clientId?: string;
  readonly attemptTimeoutMs?: number;
  readonly timeoutMs?: number;
  /** Channels shared with other clients (their requests of one tick share envelopes); closed by
   *  whoever made them, not by this client. By default the client makes and closes its own. */
  readonly channels?: SmrChannels;
}

/** A request's failure: `code` as the replicas report it (`timeout`: a command's outcome is unknown). */
export class SmrError extends Error {
  override readonly name = "SmrError";
  constructor(
    readonly code: SmrFailureCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export class SmrClient<C, R, Q, A> {
  readonly clientId: string;
  private readonly stubs: SmrClientStub[];
  /** One Session stream per replica, indexed like `stubs`. */
  readonly streams: ReplicaStream[];
  /** Its own channels (closed with it), or undefined when they are shared. */
  private readonly own: SmrChannels | undefined;
  private current = 0;
  /** When an attempt at each replica (by index) last went unanswered (a replica that answered
   *  "no leader known yet" is alive, and may lead by the time another names it). */
  private readonly failedAt = new Map<number, number>();
  /** The replica last asked who leads, and when it may be asked again. */
  private asked = { at: -1, next: Number.NEGATIVE_INFINITY };
  private seq = 0;
  private readonly inFlight = new Set<number>();
  private closed = false;

  constructor(
    private readonly machine: Machine<C, R, Q, A>,
    private readonly o: SmrClientOptions,
  ) {
    this.clientId = o.clientId ?? randomBytes(12).toString("base64url");
    this.own = o.channels ? undefined : new SmrChannels(o);
    const channels = o.replicas.map((a) => (o.channels ?? this.own!).to(a));
    this.stubs = channels.map((c) => c.stub);
    this.streams = channels.map((c) => c.stream);
  }

  /** Apply `command` once; its first result and the position it was applied below. */
  async propose(command: C, seq = this.seq++): Promise<{ readonly result: R; readonly position: number }> {
    this.inFlight.add(seq);
    try {
      const proposal = { client: this.clientId, seq, ackedBelow: Math.min(...this.inFlight), command: this.machine.command.encode(command) };
      const r = await this.call({ smr: this.o.smr, kind: "propose", proposal });
      return { result: decoded(this.machine.result.decode(r.value)), position: r.position };
    } finally {
      this.inFlight.delete(seq);
    }
  }

  /** Answer `query`: linearizable (read index), or `stale` (the replica's state now). */
  async read(query: Q, opts: { readonly stale?: boolean } = {}): Promise<{ readonly answer: A; readonly position: number }> {
    const r = await this.call({ smr: this.o.smr, kind: "read", query: this.machine.query.encode(query), stale: opts.stale ?? false });
    return { answer: decoded(this.machine.answer.decode(r.value)), position: r.position };
  }

  /** The address of the replica this client uses now (the one that answered last, or the leader it named). */
  get replica(): string {
    return this.o.replicas[this.current]!;
  }

  /** The status of replica `i` of the set. */
  status(i: number): Promise<SmrStatusReport> {
    return new Promise((resolve, reject) =>
      this.stubs[i]!.status(encodeStatusRequest(), callMetadata(this.o), { deadline: Date.now() + this.attemptMs }, (err, bytes) => {
        if (err) {
          const reason = err.details || err.message;
          const mismatch = misconfiguration("the replica", reason, this.o);
          return reject(mismatch ? new SmrError("invalid", `replica ${this.o.replicas[i]}: ${mismatch}`) : new SmrError("unavailable", `replica ${this.o.replicas[i]}: ${shortReason(reason)}`));
        }
        const s = decodeStatus(bytes!);
        if (!s.ok) return reject(new SmrError("invalid", `replica ${this.o.replicas[i]} sent a bad status: ${s.error.message}`));
        resolve(s.value);
      }),
    );
  }

  close(): void {
    this.closed = true;
    this.own?.close();
  }

  private get attemptMs(): number {
    return this.o.attemptTimeoutMs ?? SMR_CLIENT_DEFAULTS.attemptTimeoutMs;
  }

  /** The replica in use is the one that answered last. Now and then ask it who leads, and move
   *  there: a follower forwards every command and read index to the leader, a hop more for the
   *  request and work for both replicas. Best effort: a failed Status call changes nothing. */
  private seekLeader(at: number): void {
    const now = Date.now();
    if (this.stubs.length < 2 || (this.asked.at === at && now < this.asked.next)) return;
    const asked = (this.asked = { at, next: now + SMR_CLIENT_DEFAULTS.leaderAskMs });
    const soon = () => void (asked.next = Date.now() + SMR_CLIENT_DEFAULTS.leaderRetryMs);
    this.status(at).then((s) => {
      if (s.leader === undefined) return soon();
      const i = this.o.replicas.indexOf(s.leader);
      const stale = Date.now() - (this.failedAt.get(i) ?? Number.NEGATIVE_INFINITY) < SMR_CLIENT_DEFAULTS.staleHintMs;
      if (!this.closed && i >= 0 && i !== at && this.current === at && !stale) this.current = i;
    }, soon);
  }

  private async call(request: SmrRequest): Promise<Extract<SmrReply, { ok: true }>> {
    const method = request.kind;
    const deadline = Date.now() + (this.o.timeoutMs ?? SMR_CLIENT_DEFAULTS.timeoutMs);
    let last = "no attempt";
    let unknown = false;
    while (!this.closed && Date.now() < deadline) {
      const at = this.current;
      const r = await this.streams[at]!.request(request, Math.min(this.attemptMs, deadline - Date.now()));
      if (r.ok) {
        this.seekLeader(at);
        return r;
      }
      if (wasCutOff(r)) this.failedAt.set(at, Date.now());
      last = `replica ${this.o.replicas[at]}: ${r.message}`;
      if (r.code !== "timeout" && r.code !== "unavailable") throw new SmrError(r.code, last);
      unknown ||= r.code === "timeout";
      if (this.current === at) this.current = (at + 1) % this.stubs.length;
      await delay(SMR_CLIENT_DEFAULTS.retryMs);
    }
    const why = this.closed ? ": the client closed" : ` after ${this.o.timeoutMs ?? SMR_CLIENT_DEFAULTS.timeoutMs} ms`;
    throw new SmrError(unknown || method === "propose" ? "timeout" : "unavailable", `${method === "propose" ? "the command's outcome is unknown" : "no answer"}${why} (last: ${last})`);
  }
}

function decoded<T>(v: T | DecodeError): T {
  if (v instanceof DecodeError) throw new SmrError("invalid", `an answer this client cannot read: ${v.message}`);
  return v;
}
