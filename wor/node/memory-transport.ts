/**
 * The in-memory transport (docs/ARCHITECTURE.md §3.3, §7.8): the real client shell talks to real
 * `AcceptorNode`s without sockets. Frames still go through the codecs both ways, so tests exercise
 * the same bytes → domain path as gRPC. Links can be cut (reported down, like a refused connection)
 * and healed to test reconnects, or an acceptor paused (silent while its links look up, like a
 * stopped process).
 */
import { decodeClientFrames, decodeServerFrames, encodeClientFrames } from "../wire/codec.ts";
import type { ClientFrame, ServerFrame } from "../core/frames.ts";
import type { AcceptorNode, FrameSink } from "./acceptor-node.ts";
import type { AcceptorLink, LinkEvents, Transport } from "./link.ts";
import { replyWriter } from "./reply-writer.ts";
import type { FrameStream, StreamWriter } from "./stream-writer.ts";

export class MemoryTransport implements Transport {
  private readonly links = new Set<MemoryLink>();
  private readonly cut = new Set<number>();
  private readonly paused = new Set<number>();

  constructor(private readonly nodes: readonly AcceptorNode[]) {}

  connect(acceptor: number, events: LinkEvents): AcceptorLink {
    const node = this.nodes[acceptor];
    if (!node) throw new Error(`no acceptor ${acceptor}`);
    const link = new MemoryLink(acceptor, node, events, this);
    this.links.add(link);
    return link;
  }

  isCut(acceptor: number): boolean {
    return this.cut.has(acceptor);
  }

  isPaused(acceptor: number): boolean {
    return this.paused.has(acceptor);
  }

  /** `acceptor` stops answering but its sessions stay up (a stopped process): frames vanish silently. */
  pause(acceptor: number): void {
    this.paused.add(acceptor);
  }

  /** Cut every session to `acceptor`: frames in flight and sent meanwhile are lost. */
  disconnect(acceptor: number): void {
    this.cut.add(acceptor);
    for (const l of this.links) if (l.acceptor === acceptor) l.drop("disconnected");
  }

  /** Restore sessions to `acceptor`; clients resend what went unanswered. */
  reconnect(acceptor: number): void {
    this.cut.delete(acceptor);
    for (const l of this.links) if (l.acceptor === acceptor) l.restore();
  }

  forget(link: MemoryLink): void {
    this.links.delete(link);
  }
}

class MemoryLink implements AcceptorLink {
  private sink: Session | undefined;
  private closed = false;

  constructor(
    readonly acceptor: number,
    private readonly node: AcceptorNode,
    private readonly events: LinkEvents,
    private readonly transport: MemoryTransport,
  ) {
    if (!transport.isCut(acceptor)) this.sink = new Session(events);
    // A link opened to a cut acceptor fails to connect, as a refused connection does.
    else queueMicrotask(() => !this.closed && !this.sink && events.onDown("disconnected"));
  }

  send(frames: readonly ClientFrame[]): void {
    const sink = this.sink;
    if (!sink || this.closed || frames.length === 0 || this.transport.isPaused(this.acceptor)) return;
    const bytes = encodeClientFrames(frames);
    queueMicrotask(() => {
      if (sink.closed) return;
      const decoded = decodeClientFrames(bytes);
      if (decoded.ok) this.node.handle(decoded.value, sink);
    });
  }

  drop(reason: string): void {
    if (!this.sink) return;
    this.sink.closed = true;
    this.node.detach(this.sink);
    this.sink = undefined;
    this.events.onDown(reason);
  }

  restore(): void {
    if (this.sink || this.closed) return;
    this.sink = new Session(this.events);
    this.events.onUp();
  }

  close(): void {
    this.closed = true;
    if (this.sink) {
      this.sink.closed = true;
      this.node.detach(this.sink);
    }
    this.sink = undefined;
    this.transport.forget(this);
  }
}

/** The acceptor's side of one session: server frames cross back through the codec, in envelopes
 *  made by the gRPC server's reply writer (so a reply too large for one is refused the same way). */
class Session implements FrameSink {
  closed = false;
  private readonly writer: StreamWriter<ServerFrame>;
  constructor(events: LinkEvents) {
    const stream: FrameStream = {
      write: (envelope, done) => {
        queueMicrotask(() => {
          if (!this.closed) {
            const decoded = decodeServerFrames(envelope);
            if (decoded.ok) events.onFrames(decoded.value);
          }
          done();
        });
        return true;
      },
      once: () => stream,
    };
    this.writer = replyWriter(stream, { onFail: () => {} });
  }
  send(frames: ServerFrame[]): void {
    if (this.closed || frames.length === 0) return;
    this.writer.push(frames);
  }
}
