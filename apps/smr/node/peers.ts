/**
 * Messages to the other replicas (docs/ARCHITECTURE.md §4.2): one long-lived Peer stream per peer,
 * the messages of one tick in one envelope, through a `StreamWriter` (backpressure, a bounded
 * queue). Fire and forget: a message to a peer that is down or backed up is dropped, which the
 * replica core tolerates (heartbeats repeat, forwarded requests time out). A broken stream is
 * opened again, after a short backoff, when there is something to send. The backoff (ours and the
 * channel's) is capped at `reconnectMaxMs`, a heartbeat interval: a replica that restarts hears the
 * leader within its election timeout, instead of taking over while the leader's link to it still
 * backs off.
 */
import type * as grpc from "@grpc/grpc-js";
import { type ClientSecurity, callMetadata } from "../../../wor/node/credentials.ts";
import { reconnectDelayMs } from "../../../wor/node/link.ts";
import { StreamWriter } from "../../../wor/node/stream-writer.ts";
import type { PeerMessage } from "../core/messages.ts";
import { encodePeerEnvelope } from "../wire/codec.ts";
import type { SmrClientStub } from "../wire/service.ts";
import { OncePerTurn } from "../../../wor/node/once-per-turn.ts";
import { replicaStub } from "./smr-channels.ts";

interface Link {
  readonly client: SmrClientStub;
  stream?: { readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>; readonly writer: StreamWriter<PeerMessage> };
  failures: number;
  retryAt: number;
  outbox: PeerMessage[];
}

export class PeerLinks {
  private readonly links = new Map<string, Link>();
  private readonly flusher = new OncePerTurn(() => this.flush());
  private closed = false;

  constructor(
    private readonly smr: string,
    /** This replica's address (the `from` of its envelopes). */
    private readonly self: string,
    private readonly security: ClientSecurity = {},
    /** The longest a link to a peer that went away waits before it tries again. */
    private readonly reconnectMaxMs = 1_000,
  ) {}

  send(to: string, msg: PeerMessage): void {
    if (this.closed) return;
    let link = this.links.get(to);
    if (!link) {
      const backoff = { "grpc.initial_reconnect_backoff_ms": Math.min(50, this.reconnectMaxMs), "grpc.max_reconnect_backoff_ms": this.reconnectMaxMs };
      link = { client: replicaStub(to, this.security, backoff), failures: 0, retryAt: 0, outbox: [] };
      this.links.set(to, link);
    }
    link.outbox.push(msg);
    this.flusher.schedule();
  }

  close(): void {
    this.closed = true;
    for (const l of this.links.values()) {
      l.stream?.writer.end();
      l.client.close();
    }
  }

  private flush(): void {
    const now = Date.now();
    for (const l of this.links.values()) {
      const msgs = l.outbox;
      l.outbox = [];
      if (msgs.length === 0 || this.closed) continue;
      if (!l.stream && now >= l.retryAt) this.open(l);
      l.stream?.writer.push(msgs);
    }
  }

  private open(l: Link): void {
    const call = l.client.peer(callMetadata(this.security));
    const openedAt = Date.now();
    const down = () => {
      if (l.stream?.call !== call) return;
      l.stream.writer.close();
      l.stream = undefined;
      // A stream that served a while starts the backoff afresh.
      if (Date.now() - openedAt > 1_000) l.failures = 0;
      l.retryAt = Date.now() + Math.min(this.reconnectMaxMs, reconnectDelayMs(l.failures++));
    };
    const writer = new StreamWriter<PeerMessage>(call, {
      encode: (messages) => encodePeerEnvelope({ smr: this.smr, from: this.self, messages }),
      onFail: () => call.cancel(),
    });
    call.on("error", down);
    // The peer answers nothing, so nothing reads this stream: 'end' alone would never fire when the
    // peer ends it (its server closing); its status does.
    call.on("status", down);
    call.on("end", down);
    call.resume();
    l.stream = { call, writer };
  }
}
