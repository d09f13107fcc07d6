/**
 * Participants in other processes, by name → "host:port" of their `startParticipantServer`: the
 * `ParticipantLink` a coordinator runs with. A prepare that fails in transport (unreachable, past
 * its deadline) is an unknown vote (`unavailable`, `timeout`): the coordinator reads the vote back,
 * and past the deadline resolves it. A decide is fire and forget: participants also learn the
 * outcome by watching the votes.
 */
import * as grpc from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions } from "../../../wor/node/credentials.ts";
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnResult } from "../core/steps.ts";
import { decodePrepareReply, encodeDecideRequest, encodePrepareRequest } from "../wire/codec.ts";
import { type ParticipantClient, makeParticipantClient } from "../wire/service.ts";
import type { ParticipantLink } from "./driver.ts";

export interface RemoteParticipantsOptions extends ClientSecurity {
  /** Participant name → its server's "host:port". */
  readonly addresses: ReadonlyMap<string, string>;
  /** A prepare's deadline (default 5 s): past it the vote is unknown. */
  readonly prepareTimeoutMs?: number;
  /** A decide's deadline (default 2 s). */
  readonly decideTimeoutMs?: number;
}

export interface RemoteParticipants extends ParticipantLink {
  close(): void;
}

export function remoteParticipants(o: RemoteParticipantsOptions): RemoteParticipants {
  const clients = new Map<string, ParticipantClient>();
  const client = (name: string): ParticipantClient | undefined => {
    const address = o.addresses.get(name);
    if (address === undefined) return undefined;
    let c = clients.get(name);
    if (!c) {
      c = new makeParticipantClient(address, channelCredentials(o), { ...CHANNEL_OPTIONS, ...channelOptions(o) });
      clients.set(name, c);
    }
    return c;
  };
  return {
    prepare(name: string, request: PrepareRequest): Promise<TxnResult<Vote>> {
      const c = client(name);
      if (!c) return Promise.resolve({ ok: false, failure: { code: "unavailable", message: `no address for participant ${name}` } });
      return new Promise((resolve) => {
        c.prepare(encodePrepareRequest(request), callMetadata(o), { deadline: Date.now() + (o.prepareTimeoutMs ?? 5_000) }, (err, bytes) => {
          if (err || !bytes) {
            const code = err?.code === grpc.status.DEADLINE_EXCEEDED ? "timeout" : "unavailable";
            return resolve({ ok: false, failure: { code, message: `participant ${name}: ${err?.details || err?.message || "empty reply"}` } });
          }
          const d = decodePrepareReply(bytes);
          resolve(d.ok ? d.value : { ok: false, failure: { code: "corrupt", message: `participant ${name} sent a malformed reply: ${d.error.message}` } });
        });
      });
    },
    notify(name, space, txn, outcome): void {
      client(name)?.decide(encodeDecideRequest({ space, txn, outcome }), callMetadata(o), { deadline: Date.now() + (o.decideTimeoutMs ?? 2_000) }, () => {});
    },
    close(): void {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
