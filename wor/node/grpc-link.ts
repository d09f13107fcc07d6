/**
 * The gRPC transport: one long-lived bidirectional Session stream per client–acceptor pair,
 * carrying batched envelopes (docs/ARCHITECTURE.md §3.3). Reconnects with short backoff; frames sent while
 * the stream is down are dropped, and the client core resends what went unanswered on `onUp`.
 */
import type * as grpc from "@grpc/grpc-js";
import { decodeServerFrames, encodeClientFrames } from "../wire/codec.ts";
import type { ClientFrame } from "../core/frames.ts";
import { type AcceptorClient, makeAcceptorClient } from "../wire/service.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions } from "./credentials.ts";
import type { AcceptorLink, LinkEvents, Transport } from "./link.ts";
import { reconnectDelayMs } from "./link.ts";
import { StreamWriter } from "./stream-writer.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

export interface GrpcTransportOptions extends ClientSecurity {
  /** "host:port" of each acceptor, indexed like the client's acceptors. */
  readonly addresses: readonly string[];
}

class LinkCounters {
  malformedEnvelopes = 0;
  reconnects = 0;
}

export function grpcTransport(options: GrpcTransportOptions): Transport & { readonly counters: LinkCounters } {
  const counters = new LinkCounters();
  return {
    counters,
    connect(acceptor, events) {
      const address = options.addresses[acceptor];
      if (address === undefined) throw new Error(`no address for acceptor ${acceptor}`);
      return new GrpcLink(address, options, events, counters);
    },
  };
}

class GrpcLink implements AcceptorLink {
  private readonly client: AcceptorClient;
  private writer: StreamWriter<ClientFrame> | undefined;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    address: string,
    private readonly security: ClientSecurity,
    private readonly events: LinkEvents,
    private readonly counters: LinkCounters,
  ) {
    this.client = new makeAcceptorClient(address, channelCredentials(security), { ...CHANNEL_OPTIONS, ...channelOptions(security) });
    this.open();
  }

  send(frames: readonly ClientFrame[]): void {
    if (!this.writer || this.writer.failed) return;
    this.writer.push(frames);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    // Half-close after what is queued: the acceptor answers what it got, then ends the stream.
    this.writer?.end();
    this.client.close();
  }

  private open(): void {
    const call = this.client.session(callMetadata(this.security));
    let down = false;
    const onDown = (reason: string) => {
      if (down) return;
      down = true;
      this.writer?.close();
      this.writer = undefined;
      if (this.closed) return;
      this.events.onDown(reason);
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.counters.reconnects++;
        this.open();
        this.events.onUp();
      }, reconnectDelayMs(this.attempt++));
    };
    this.writer = new StreamWriter<ClientFrame>(call, {
      encode: encodeClientFrames,
      onFail: (e) => {
        call.cancel();
        onDown(e.message);
      },
    });
    call.on("data", (bytes: Uint8Array) => {
      this.attempt = 0;
      const decoded = decodeServerFrames(bytes);
      if (decoded.ok) this.events.onFrames(decoded.value);
      else this.counters.malformedEnvelopes++;
    });
    call.on("error", (e: grpc.ServiceError) => onDown(e.details || e.message));
    call.on("end", () => onDown("stream ended"));
  }
}
