/**
 * A scripted network between one or more client cores and acceptor cores, all pure: frames are
 * delivered when the test says so, and acceptors can be cut off. Persistence is immediate here
 * (the node layer's tests cover durability).
 */
import { type AcceptorState, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { mintReceipt, release } from "../../paxos/held.ts";
import type { Reply, Request } from "../../paxos/messages.ts";
import { spaceSetup } from "../../wor/core/space-meta.ts";
import { CLIENT_DEFAULTS, type Op, WorClientCore } from "../../wor/core/client-core.ts";
import type { OpResult } from "../../wor/core/results.ts";

/** The metadata of the spaces these tests create. */
export const REGISTERS = { kind: "registers", segmentSize: 16 } as const;

export class Net {
  readonly acceptors: AcceptorState[];
  readonly clients: WorClientCore[] = [];
  readonly down = new Set<number>();
  readonly results = new Map<string, OpResult<unknown>>();
  queue: { client: number; to: number; frameId: number; request: Request }[] = [];
  now = 0;
  violations: string[] = [];

  constructor(n = 3) {
    this.acceptors = Array.from({ length: n }, () => emptyAcceptor());
  }

  client(proposerId: number, overrides: Partial<ConstructorParameters<typeof WorClientCore>[0]> = {}): WorClientCore {
    const n = this.acceptors.length;
    const c = new WorClientCore({ ...CLIENT_DEFAULTS, acceptors: n, quorum: Math.floor(n / 2) + 1, proposerId, segmentSize: 16, ...overrides });
    this.clients.push(c);
    return c;
  }

  /** Move client outputs onto the wire. */
  collect(): void {
    this.clients.forEach((c, ci) => {
      const out = c.takeOutputs();
      for (const s of out.sends) if (s.frame.kind === "request") this.queue.push({ client: ci, to: s.to, frameId: s.frame.id, request: s.frame.request });
      for (const d of out.completions) this.results.set(`${ci}:${d.op}`, d.result);
    });
  }

  /** Deliver queued frames (optionally only those matching) until quiet. */
  run(filter: (m: Net["queue"][number]) => boolean = () => true, rounds = 100): void {
    for (let r = 0; r < rounds; r++) {
      this.collect();
      const now = this.queue.filter(filter);
      if (now.length === 0) return;
      this.queue = this.queue.filter((m) => !filter(m));
      for (const m of now) {
        if (this.down.has(m.to)) continue;
        const before = snapshotAcceptor(this.acceptors[m.to]!);
        const out = step(this.acceptors[m.to]!, m.request);
        this.violations.push(...checkAcceptorStep(before, out.state, m.request));
        const replies: readonly Reply[] = release(out.replies, mintReceipt(0));
        for (const reply of replies) this.clients[m.client]!.onReply(m.to, m.frameId, reply, this.now);
      }
    }
  }

  result<T>(client: number, op: Op<T>): OpResult<T> | undefined {
    this.collect();
    return this.results.get(`${client}:${op}`) as OpResult<T> | undefined;
  }

  /** Run to quiescence and return the op's value, failing the test if it did not succeed. */
  value<T>(client: number, op: Op<T>): T {
    this.run();
    const r = this.result(client, op);
    if (!r) throw new Error(`op ${op} of client ${client} did not complete`);
    if (!r.ok) throw new Error(`op failed: ${r.failure.code}: ${r.failure.message}`);
    return r.value;
  }

  /** Create a register space at every acceptor directly, its metadata chosen at the owner ballot
   *  (setup that spends no ballot of any client under test). */
  bootstrap(space: string): void {
    for (const a of this.acceptors) for (const r of spaceSetup(space, REGISTERS)) step(a, r);
  }

  advance(ms: number): void {
    this.now += ms;
    for (const c of this.clients) c.tick(this.now);
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
