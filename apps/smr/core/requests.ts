/**
 * A replica's requests in flight (docs/ARCHITECTURE.md §4.2), and the replies and messages they
 * produce. A proposal waits by its idempotency key: whoever applies that key first (this replica's
 * own apply, or the leader's reply to a forwarded copy) answers it, with the first result. A
 * linearizable read waits for its read index, then for the state to reach it. Everything has a
 * deadline: a proposal past it fails `timeout` (its outcome unknown), a read too.
 */
import type { PeerMessage, SmrReply } from "./messages.ts";
import { smrFail } from "./messages.ts";

/** A client of this replica (`req`), or a peer that forwarded the request (`to`, its `id`). */
export type Waiter = ({ readonly req: number } | { readonly to: string; readonly id: string }) & { readonly deadline: number };
/** A read: a client's (with its query), or a peer's read-index request (no query). */
export type ReadWaiter = Waiter & { readonly query?: Uint8Array };

interface Forwarded {
  readonly req: number;
  readonly deadline: number;
  /** A proposal's key, or a read's query. */
  readonly key?: string;
  readonly query?: Uint8Array;
}

export class Requests {
  replies: { readonly req: number; readonly reply: SmrReply }[] = [];
  sends: { readonly to: string; readonly msg: PeerMessage }[] = [];
  private readonly byKey = new Map<string, Waiter[]>();
  /** By id: this incarnation's name and a counter, so a reply meant for an earlier incarnation of
   *  this replica (at the same address) never answers a request of this one. */
  private readonly forwarded = new Map<string, Forwarded>();
  private indexed: { readonly w: ReadWaiter; readonly index: number }[] = [];
  private nextId = 1;

  constructor(private readonly incarnation: string) {}

  get pending(): number {
    return this.byKey.size + this.forwarded.size + this.indexed.length;
  }

  send(to: string, msg: PeerMessage): void {
    this.sends.push({ to, msg });
  }

  answer(w: Waiter, reply: SmrReply): void {
    if ("req" in w) this.replies.push({ req: w.req, reply });
    else this.send(w.to, { kind: "reply", id: w.id, reply });
  }

  /** `w` waits for the first result of the command with key `key`. */
  wait(key: string, w: Waiter): void {
    const ws = this.byKey.get(key);
    if (ws) ws.push(w);
    else this.byKey.set(key, [w]);
  }

  /** The command with key `key` has its answer (or, never written, a failure). */
  resolve(key: string, reply: SmrReply): void {
    const ws = this.byKey.get(key);
    if (!ws) return;
    this.byKey.delete(key);
    for (const w of ws) this.answer(w, reply);
  }

  /** Forward client request `req` (a proposal with `key`, or a read of `query`): the id of its message. */
  forward(req: number, deadline: number, what: { readonly key: string } | { readonly query: Uint8Array }): string {
    const id = `${this.incarnation}:${this.nextId++}`;
    this.forwarded.set(id, { req, deadline, ...what });
    if ("key" in what) this.wait(what.key, { req, deadline });
    return id;
  }

  /** The leader answered forwarded request `id`: a proposal's result (or failure), or a read's index. */
  replied(id: string, reply: SmrReply): void {
    const f = this.forwarded.get(id);
    if (!f) return;
    this.forwarded.delete(id);
    if (f.key !== undefined) {
      // Unless this replica's own apply of the key answered it first.
      const ws = this.byKey.get(f.key) ?? [];
      const rest = ws.filter((w) => !("req" in w) || w.req !== f.req);
      if (rest.length === ws.length) return;
      if (rest.length > 0) this.byKey.set(f.key, rest);
      else this.byKey.delete(f.key);
      this.replies.push({ req: f.req, reply });
    } else if (reply.ok) this.indexed.push({ w: { req: f.req, deadline: f.deadline, query: f.query! }, index: reply.position });
    else this.replies.push({ req: f.req, reply });
  }

  /** A confirmed read index for `w` (undefined: not confirmed). */
  indexFor(w: ReadWaiter, index: number | undefined): void {
    if (index === undefined) this.answer(w, smrFail("unavailable", "the leader could not confirm it still leads; read again"));
    else if (w.query === undefined) this.answer(w, { ok: true, value: new Uint8Array(), position: index });
    else this.indexed.push({ w, index });
  }

  /** Answer the reads whose index the state reached (`position`), by `query`. */
  reached(position: number, query: (q: Uint8Array) => SmrReply): void {
    if (this.indexed.length === 0) return;
    const ready = this.indexed.filter((r) => r.index <= position);
    if (ready.length === 0) return;
    this.indexed = this.indexed.filter((r) => r.index > position);
    for (const r of ready) this.answer(r.w, query(r.w.query!));
  }

  /** Fail what is past its deadline at `now`. */
  expire(now: number): void {
    const late = (x: { readonly deadline: number }) => x.deadline <= now;
    const timeout = smrFail("timeout", "no answer in time: the outcome is unknown (propose again with the same key: it is applied once)");
    for (const [key, ws] of this.byKey) {
      for (const w of ws.filter(late)) if ("req" in w) this.replies.push({ req: w.req, reply: timeout });
      const rest = ws.filter((w) => !late(w));
      if (rest.length > 0) this.byKey.set(key, rest);
      else this.byKey.delete(key);
    }
    for (const [id, f] of this.forwarded) {
      if (!late(f)) continue;
      this.forwarded.delete(id);
      if (f.key === undefined) this.replies.push({ req: f.req, reply: smrFail("timeout", "the leader did not answer the read in time") });
    }
    for (const r of this.indexed.filter((r) => late(r.w))) if ("req" in r.w) this.replies.push({ req: r.w.req, reply: smrFail("timeout", "the state did not reach the read index in time") });
    this.indexed = this.indexed.filter((r) => !late(r.w));
  }
}
