/** Unary admin calls to one acceptor (status, inspect, and a reconfiguration's: reconfigure,
 *  activate, blocks), each with a deadline. Not for protocol traffic. */
import type * as grpc from "@grpc/grpc-js";
import type { AcceptorStatus, BlocksReply, BlocksRequest, InspectReply, InspectRequest } from "../wire/admin.ts";
import {
  decodeBlocksReply,
  decodeInspectReply,
  decodeReconfigureReply,
  decodeStatus,
  encodeActivateRequest,
  encodeBlocksRequest,
  encodeInspectRequest,
  encodeReconfigureRequest,
  encodeStatusRequest,
} from "../wire/codec.ts";
import type { Configuration } from "../core/configuration.ts";
import type { FailureCode } from "../core/results.ts";
import { makeAcceptorClient } from "../wire/service.ts";
import { WorError } from "./client.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, clusterMismatch } from "./credentials.ts";
import type { Decoded } from "../../proto/codec-kernel.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

export interface AdminOptions extends ClientSecurity {
  readonly deadlineMs?: number;
}

/** gRPC status codes the admin calls answer with, as failure codes (the rest: unavailable). */
const ADMIN_CODES: Partial<Record<number, FailureCode>> = { 3: "invalid", 4: "timeout", 5: "unknownSpace", 8: "tooLarge", 9: "invalid", 16: "unauthenticated" };

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

  /** Tell the acceptor configuration `c`: true if it adopted it now, false if it held it already. */
  reconfigure(c: Configuration): Promise<boolean> {
    return this.call((cb, o) => this.client.reconfigure(encodeReconfigureRequest(c), callMetadata(this.options), o, cb), decodeReconfigureReply);
  }

  /** Start a joining replacement serving everyone: true if it was joining. */
  activate(): Promise<boolean> {
    return this.call((cb, o) => this.client.activate(encodeActivateRequest(), callMetadata(this.options), o, cb), decodeReconfigureReply);
  }

  blocks(request: BlocksRequest): Promise<BlocksReply> {
    return this.call((cb, o) => this.client.blocks(encodeBlocksRequest(request), callMetadata(this.options), o, cb), decodeBlocksReply);
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
            const code = ADMIN_CODES[err.code] ?? "unavailable";
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
