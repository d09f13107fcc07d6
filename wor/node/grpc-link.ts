/**
 * The gRPC transport: one long-lived bidirectional Session stream per client–acceptor pair,
 * carrying batched envelopes (docs/ARCHITECTURE.md §3.3). Reconnects with short backoff; frames sent while
 * the stream is down are dropped, and the client core resends what went unanswered on `onUp`.
 *
 * Every session declares the epoch of the configuration the transport runs under (§3.5). An
 * acceptor that knows a newer one refuses the session and names it in a trailer; the transport
 * follows it and reconnects each slot to the acceptor that now serves it (the client opens links
 * for slots an addition made and closes those a removal dropped).
 */
import type * as grpc from "@grpc/grpc-js";
import { decodeServerFrames, encodeClientFrames } from "../wire/codec.ts";
import { type Configuration, decodeConfiguration } from "../core/configuration.ts";
import type { ClientFrame } from "../core/frames.ts";
import { type AcceptorClient, makeAcceptorClient } from "../wire/service.ts";
import { CONFIGURATION_TRAILER, type ClientSecurity, EPOCH_METADATA, INSTALLER_METADATA, callMetadata, channelCredentials, channelOptions } from "./credentials.ts";
import type { AcceptorLink, LinkEvents, Transport } from "./link.ts";
import { reconnectDelayMs } from "./link.ts";
import { StreamWriter } from "./stream-writer.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

export interface GrpcTransportOptions extends ClientSecurity {
  /** "host:port" of each acceptor, indexed like the client's acceptors. */
  readonly addresses: readonly string[];
  /** The epoch of the configuration `addresses` come from (default 0: the cluster file's). */
  readonly epoch?: number;
  /** Open sessions as a reconfiguration's installer (the only sessions a joining acceptor serves). */
  readonly installer?: boolean;
}

class LinkCounters {
  malformedEnvelopes = 0;
  reconnects = 0;
  /** Newer configurations followed. */
  reconfigurations = 0;
}

/** The configuration the transport runs under: the epoch its sessions declare, the address of each slot. */
class View {
  epoch: number;
  readonly addresses: string[];
  readonly links = new Set<GrpcLink>();
  readonly listeners: ((c: Configuration) => void)[] = [];
  constructor(o: GrpcTransportOptions) {
    this.epoch = o.epoch ?? 0;
    this.addresses = [...o.addresses];
  }

  /**
   * Follow `c` if it is newer: the listeners first (the client starts its rounds over, and opens or
   * closes links for the slots `c` adds or drops), then every link it had drops its session and
   * opens one under `c`. A message when `c` is not newer.
   */
  follow(c: Configuration, counters: LinkCounters): string | undefined {
    if (c.epoch <= this.epoch) return `the acceptor names epoch ${c.epoch}, and this client runs ${this.epoch} already`;
    this.addresses.splice(0, this.addresses.length, ...c.acceptors.map((m) => m.address));
    this.epoch = c.epoch;
    counters.reconfigurations++;
    const had = [...this.links];
    for (const l of this.listeners) l(c);
    for (const link of had) link.renew();
    return undefined;
  }
}

export function grpcTransport(options: GrpcTransportOptions): Transport & { readonly counters: LinkCounters; readonly epoch: number } {
  const counters = new LinkCounters();
  const view = new View(options);
  return {
    counters,
    get epoch() {
      return view.epoch;
    },
    connect(acceptor, events) {
      if (view.addresses[acceptor] === undefined) throw new Error(`no address for acceptor ${acceptor}`);
      return new GrpcLink(acceptor, view, options, events, counters);
    },
    onReconfigured(listener) {
      view.listeners.push(listener);
    },
  };
}

class GrpcLink implements AcceptorLink {
  private client: AcceptorClient | undefined;
  private address = "";
  private call: grpc.ClientDuplexStream<Uint8Array, Uint8Array> | undefined;
  /** The session's number: events of an earlier one (dropped by `renew`) are ignored. */
  private session = 0;
  private writer: StreamWriter<ClientFrame> | undefined;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly slot: number,
    private readonly view: View,
    private readonly security: GrpcTransportOptions,
    private readonly events: LinkEvents,
    private readonly counters: LinkCounters,
  ) {
    view.links.add(this);
    this.open();
  }

  /** The client for the slot's current address (a new one after a replacement moved the slot). */
  private channel(): AcceptorClient {
    const address = this.view.addresses[this.slot]!;
    if (!this.client || address !== this.address) {
      this.client?.close();
      this.address = address;
      this.client = new makeAcceptorClient(address, channelCredentials(this.security), { ...CHANNEL_OPTIONS, ...channelOptions(this.security) });
    }
    return this.client;
  }

  send(frames: readonly ClientFrame[]): void {
    if (!this.writer || this.writer.failed) return;
    this.writer.push(frames);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.view.links.delete(this);
    if (this.retry) clearTimeout(this.retry);
    // Half-close after what is queued: the acceptor answers what it got, then ends the stream.
    this.writer?.end();
    this.client?.close();
  }

  /** The transport follows a new configuration: drop this session (nothing more from it counts) and open one under it. */
  renew(): void {
    if (this.closed) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.session++;
    this.writer?.close();
    this.writer = undefined;
    this.call?.cancel();
    this.attempt = 0;
    this.open();
    this.events.onUp();
  }

  private open(): void {
    const md = callMetadata(this.security);
    md.set(EPOCH_METADATA, String(this.view.epoch));
    if (this.security.installer) md.set(INSTALLER_METADATA, "1");
    const call = this.channel().session(md);
    this.call = call;
    const session = ++this.session;
    const current = () => session === this.session && !this.closed;
    let down = false;
    const onDown = (reason: string) => {
      if (down || !current()) return;
      down = true;
      this.writer?.close();
      this.writer = undefined;
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
      if (!current()) return;
      this.attempt = 0;
      const decoded = decodeServerFrames(bytes);
      if (decoded.ok) this.events.onFrames(decoded.value);
      else this.counters.malformedEnvelopes++;
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (!current()) return;
      // Refused as reconfigured or retired: follow the configuration the acceptor named (every link renews).
      const named = e.metadata?.get(CONFIGURATION_TRAILER)[0];
      const d = named instanceof Uint8Array ? decodeConfiguration(named) : undefined;
      const unfollowable = d?.ok ? this.view.follow(d.value, this.counters) : undefined;
      if (d?.ok && unfollowable === undefined) return;
      onDown(unfollowable ? `${e.details}; ${unfollowable}` : e.details || e.message);
    });
    call.on("end", () => onDown("stream ended"));
  }
}
