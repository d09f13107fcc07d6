/** Unary admin calls to one acceptor (status, inspect), each with a deadline. Not for protocol traffic. */
import type * as grpc from "@grpc/grpc-js";
import type { AcceptorStatus, InspectReply, InspectRequest } from "../wire/admin.ts";
import { decodeInspectReply, decodeStatus, encodeInspectRequest, encodeStatusRequest } from "../wire/codec.ts";
import { makeAcceptorClient } from "../wire/service.ts";
import { WorError } from "./client.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, clusterMismatch } from "./credentials.ts";
import type { Decoded } from "../../proto/codec-kernel.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

export interface AdminOptions extends ClientSecurity {
  readonly deadlineMs?: number;
}

export class AdminClient {
  private readonly client;
  constructor(
    readonly address: string,
    private readonly options: AdminOptions = {},
  ) {
    this.client = new makeAcceptorClient(address, channelCredentials(options), { ...CHANNEL_OPTIONS, ...channelOptions(options) });
  }

  status(): Promise<AcceptorStatus> {
    return this.call((cb, o) => this.client.status(encodeStatusRequest({}), callMetadata(this.options), o, cb), decodeStatus);
  }

  inspect(request: InspectRequest): Promise<InspectReply> {
    return this.call((cb, o) => this.client.inspect(encodeInspectRequest(request), callMetadata(this.options), o, cb), decodeInspectReply);
  }

  close(): void {
    this.client.close();
  }

  private call<T>(
    invoke: (cb: (err: grpc.ServiceError | null, value?: Uint8Array) => void, o: Partial<grpc.CallOptions>) => void,
    decode: (b: Uint8Array) => Decoded<T>,
  ): Promise<T> {
    const deadline = Date.now() + (this.options.deadlineMs ?? 3_000);
    return new Promise((resolve, reject) => {
      invoke(
        (err, value) => {
          if (err) {
            const foreign = clusterMismatch(err.details ?? "");
            if (foreign) {
              reject(new WorError({ code: "invalid", message: `acceptor ${this.address} belongs to cluster ${foreign.server}, not ${foreign.client}` }));
              return;
            }
            const code = err.code === 16 ? "unauthenticated" : err.code === 4 ? "timeout" : "unavailable";
            reject(new WorError({ code, message: `${this.address}: ${err.details || err.message}` }));
            return;
          }
          const d = decode(value ?? new Uint8Array());
          if (d.ok) resolve(d.value);
          else reject(new WorError({ code: "invalid", message: `${this.address}: ${d.error.message}` }));
        },
        { deadline },
      );
    });
  }
}
