/**
 * Channels to an SMR's replicas (docs/ARCHITECTURE.md §4.2): per replica address, one gRPC client
 * (its own connection) and one long-lived Session stream (./replica-stream.ts), opened on first use.
 * An `SmrClient` makes its own; several clients in one process may share one, so that their
 * requests of one tick leave in one envelope per replica and the replies come back the same way,
 * rather than one envelope per request on a stream and a connection each (each client keeps its
 * own idempotency keys, attempts and failover). With the cluster's TLS, token and id (`ClientSecurity`,
 * as the acceptors' clients use them); a replica of another cluster, or whose TLS this client does
 * not match (plaintext against TLS, or the reverse, or untrusted certificates), is said so at once
 * (wor/node/credentials.ts `misconfiguration`), not retried until the
 * request's time runs out. Whoever made the channels closes them.
 */
import type * as grpc from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, misconfiguration } from "../../../wor/node/credentials.ts";
import { type SmrClientStub, makeSmrClient } from "../wire/service.ts";
import { ReplicaStream } from "./replica-stream.ts";

/** A gRPC client of the replica at `address` ("host:port") on a connection of its own; `options`
 *  add to the channel's (the peer links' shorter reconnect backoff). */
export function replicaStub(address: string, security: ClientSecurity, options: Partial<grpc.ChannelOptions> = {}): SmrClientStub {
  return new makeSmrClient(address, channelCredentials(security), { ...channelOptions(security), ...CHANNEL_OPTIONS, ...options });
}

/** One replica's gRPC client and Session stream. */
type ReplicaChannel = { readonly stub: SmrClientStub; readonly stream: ReplicaStream };

export class SmrChannels {
  private readonly open = new Map<string, ReplicaChannel>();
  private closed = false;

  constructor(private readonly security: ClientSecurity = {}) {}

  /** The channel to the replica at `address` ("host:port"). */
  to(address: string): ReplicaChannel {
    let c = this.open.get(address);
    if (!c) {
      if (this.closed) throw new Error("these SMR channels are closed");
      const stub = replicaStub(address, this.security);
      c = { stub, stream: new ReplicaStream(stub, () => callMetadata(this.security), (reason) => misconfiguration("the replica", reason, this.security)) };
      this.open.set(address, c);
    }
    return c;
  }

  /** Fail what is pending on every stream and close the connections. */
  close(): void {
    this.closed = true;
    for (const c of this.open.values()) {
      c.stream.close();
      c.stub.close();
    }
    this.open.clear();
  }
}
