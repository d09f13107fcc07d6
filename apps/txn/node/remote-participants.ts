/**
 * Participants in other processes, by name → "host:port" of their `startParticipantServer`: the
 * `ParticipantLink` a coordinator runs with. One long-lived Session stream per participant address
 * (wor/node/request-stream.ts), opened with the first request and re-opened by the next request
 * after a break; the prepares and decides of one tick leave in one envelope, answered by id. A
 * prepare cut off (past its deadline, the stream broken or refused) is an unknown vote (`timeout`,
 * `unavailable`), never a NO: the coordinator reads the vote back, and past the deadline resolves it.
 * A decide is fire and forget: participants also learn the outcome by watching the votes.
 */
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, misconfiguration } from "../../../wor/node/credentials.ts";
import { RequestStream } from "../../../wor/node/request-stream.ts";
import type { Vote } from "../core/record.ts";
import type { PrepareRequest, TxnFailure, TxnResult } from "../core/steps.ts";
import { type TxnRequestFrame, decodeReplies, encodeRequests, requestFrameBytes } from "../wire/codec.ts";
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
  /** The Session stream to a participant's address (opened with its first request), if any. */
  stream(name: string): RequestStream<TxnRequestFrame, TxnResult<Vote | undefined>> | undefined;
  close(): void;
}

const failure = (code: TxnFailure["code"], message: string): TxnResult<never> => ({ ok: false, failure: { code, message } });

export function remoteParticipants(o: RemoteParticipantsOptions): RemoteParticipants {
  const links = new Map<string, { readonly client: ParticipantClient; readonly stream: RequestStream<TxnRequestFrame, TxnResult<Vote | undefined>> }>();
  const link = (name: string) => {
    const address = o.addresses.get(name);
    if (address === undefined) return undefined;
    let l = links.get(address);
    if (!l) {
      const client = new makeParticipantClient(address, channelCredentials(o), { ...CHANNEL_OPTIONS, ...channelOptions(o) });
      const stream = new RequestStream<TxnRequestFrame, TxnResult<Vote | undefined>>({
        server: `the participant at ${address}`,
        open: () => client.session(callMetadata(o)),
        encode: encodeRequests,
        frameBytes: requestFrameBytes,
        decode: decodeReplies,
        // Cut off, a prepare's vote is unknown (it may have been cast): never a NO.
        cutOff: (_f, message, why) => failure(why === "timeout" ? "timeout" : "unavailable", message),
        refusal: (r) => (r.ok ? "?" : r.failure.message),
        busy: (n, limit) => failure("unavailable", `${n} requests pending on the stream to ${address} (limit ${limit})`),
        refused: (reason) => misconfiguration(`the participant at ${address}`, reason, o),
      });
      l = { client, stream };
      links.set(address, l);
    }
    return l;
  };
  return {
    async prepare(name: string, request: PrepareRequest): Promise<TxnResult<Vote>> {
      const l = link(name);
      if (!l) return failure("unavailable", `no address for participant ${name}`);
      const r = await l.stream.request((id) => ({ id, kind: "prepare", prepare: request }), o.prepareTimeoutMs ?? 5_000);
      if (!r.ok) return failure(r.failure.code, `participant ${name}: ${r.failure.message}`);
      if (r.value === undefined) return failure("corrupt", `participant ${name} answered a prepare as a decide`);
      return { ok: true, value: r.value };
    },
    notify(name, space, txn, outcome): void {
      void link(name)?.stream.request((id) => ({ id, kind: "decide", decide: { space, txn, outcome } }), o.decideTimeoutMs ?? 2_000);
    },
    stream: (name) => link(name)?.stream,
    close(): void {
      for (const l of links.values()) {
        l.stream.close();
        l.client.close();
      }
      links.clear();
    },
  };
}
