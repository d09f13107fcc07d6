/**
 * A raw session to one acceptor as a reconfiguration's installer (docs/ARCHITECTURE.md §3.5): the
 * only session a joining replacement serves. It carries plain protocol requests (create a space,
 * trim, accept at a given ballot, commit, prepare), so the replacement's state is built by its own
 * acceptor step from messages proposers really sent: it ends up as an acceptor that received them,
 * with every acceptor invariant checked as usual. Requests are matched to replies by id and sent
 * again after a reconnect; each has a deadline.
 */
import type { Reply, Request } from "../../paxos/messages.ts";
import type { ClientFrame, ServerFrame } from "../core/frames.ts";
import type { ClientSecurity } from "./credentials.ts";
import { grpcTransport } from "./grpc-link.ts";
import type { AcceptorLink } from "./link.ts";

interface Pending {
  readonly frame: ClientFrame;
  readonly done: (r: Reply | Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class InstallerSession {
  private readonly link: AcceptorLink;
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private down = "";

  constructor(
    readonly address: string,
    epoch: number,
    security: ClientSecurity,
    private readonly timeoutMs = 10_000,
  ) {
    this.link = grpcTransport({ ...security, addresses: [address], epoch, installer: true }).connect(0, {
      onFrames: (frames) => this.onFrames(frames),
      onUp: () => {
        this.down = "";
        const frames = [...this.pending.values()].map((p) => p.frame);
        if (frames.length > 0) this.link.send(frames);
      },
      onDown: (reason) => {
        this.down = reason;
      },
    });
  }

  /** Send `requests` in one envelope; their replies in order (an Error for one that timed out). */
  send(requests: readonly Request[]): Promise<(Reply | Error)[]> {
    const out = requests.map((request) => {
      const id = this.next++;
      const frame: ClientFrame = { id, kind: "request", request };
      return new Promise<Reply | Error>((done) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          done(new Error(`${this.address} did not answer within ${this.timeoutMs} ms${this.down ? ` (${this.down})` : ""}`));
        }, this.timeoutMs);
        this.pending.set(id, { frame, done, timer });
      });
    });
    this.link.send([...this.pending.values()].slice(-requests.length).map((p) => p.frame));
    return Promise.all(out);
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.done(new Error("the installer session closed"));
    }
    this.pending.clear();
    this.link.close();
  }

  private onFrames(frames: readonly ServerFrame[]): void {
    for (const f of frames) {
      if (f.kind !== "reply") continue;
      const p = this.pending.get(f.id);
      if (!p) continue;
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      p.done(f.reply);
    }
  }
}
