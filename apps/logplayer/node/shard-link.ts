/**
 * A player's (or an operator's) connections to shards by address: delivery streams (one frame per
 * message each way, apps/logplayer/wire/codec.ts), and the unary reads of a shard's rows and status.
 * A reply that does not decode ends its stream as a transport failure would: the player asks the
 * shard where it stands on the next one. With the cluster's TLS, token and id (`ClientSecurity`, as
 * the acceptors' clients use them); a shard that refuses the token, that belongs to another cluster,
 * or whose TLS this client does not match is said so, by address.
 */
import * as grpc from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../../proto/grpc-raw.ts";
import { type ClientSecurity, callMetadata, channelCredentials, channelOptions, misconfiguration } from "../../../wor/node/credentials.ts";
import { shortReason } from "../../../wor/node/grpc-reason.ts";
import type { PlayerFrame, ShardReply } from "../core/items.ts";
import { type ShardRowsView, type ShardStatusView, decodeReply, decodeRows, decodeStatus, encodeFrame, encodeReadRequest, encodeStatusRequest } from "../wire/codec.ts";
import { type ShardClient, makeShardClient } from "../wire/service.ts";

export interface DeliveryStream {
  send(frame: PlayerFrame): void;
  /** Give the stream up: nothing more is heard from it. */
  close(): void;
}

export interface DeliveryHandlers {
  reply(reply: ShardReply): void;
  /** The stream ended or failed (at most once, and never after `close`); `refused`: the shard refused
   *  this client (its token, its cluster id, its TLS): retrying cannot help. */
  down(why: string, refused: boolean): void;
}

/** A shard call that failed, naming the shard; `misconfigured`: the shard belongs to another cluster,
 *  or this client's TLS does not match the shard's (retrying cannot help). */
export class ShardCallError extends Error {
  override readonly name = "ShardCallError";
  constructor(
    message: string,
    readonly misconfigured = false,
  ) {
    super(message);
  }
}

/** A shard's refusal of the caller's token, by address. */
const tokenRefused = (address: string): string => `shard ${address} refused the token (check --token or the cluster file's token)`;

/** A shard served in this process: delivery streams to it skip the network (shard-server.ts `local`). */
export interface LocalShard {
  local(h: DeliveryHandlers): DeliveryStream;
}

export class ShardLinks {
  private readonly clients: ShardClient[];

  constructor(
    readonly addresses: readonly string[],
    private readonly security: ClientSecurity = {},
    /** Shards in this process, by address. */
    private readonly locals: ReadonlyMap<string, LocalShard> = new Map(),
  ) {
    this.clients = addresses.map((a) => new makeShardClient(a, channelCredentials(security), { ...CHANNEL_OPTIONS, ...channelOptions(security) }));
  }

  /** Open a delivery stream to shard `shard` (in process when it is here). */
  open(shard: number, h: DeliveryHandlers): DeliveryStream {
    const here = this.locals.get(this.addresses[shard]!);
    if (here) return here.local(h);
    const call = this.clients[shard]!.deliver(callMetadata(this.security));
    let over = false;
    const down = (why: string, refused = false) => {
      if (over) return;
      over = true;
      call.cancel();
      h.down(why, refused);
    };
    call.on("data", (bytes: Uint8Array) => {
      if (over) return;
      const r = decodeReply(bytes);
      if (r.ok) h.reply(r.value);
      else down(`shard ${this.addresses[shard]} sent a malformed reply: ${r.error.message}`);
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (e.code === grpc.status.UNAUTHENTICATED) return down(tokenRefused(this.addresses[shard]!), true);
      // Another cluster's shard, or a TLS mismatch, is as final as a refused token: the player stops and says which side is wrong.
      const mismatch = misconfiguration(`shard ${this.addresses[shard]}`, e.details || e.message, this.security);
      down(mismatch ?? (e.details || e.message), mismatch !== undefined);
    });
    call.on("end", () => down("the shard ended the stream"));
    return {
      send: (frame) => {
        if (!over) call.write(encodeFrame(frame));
      },
      close: () => {
        if (over) return;
        over = true;
        call.cancel();
      },
    };
  }

  status(shard: number, timeoutMs: number): Promise<ShardStatusView> {
    return this.unary(shard, timeoutMs, (c, md, o, cb) => c.status(encodeStatusRequest(), md, o, cb), decodeStatus);
  }

  read(shard: number, from: number, limit: number, timeoutMs: number): Promise<ShardRowsView> {
    return this.unary(shard, timeoutMs, (c, md, o, cb) => c.read(encodeReadRequest({ from, limit }), md, o, cb), decodeRows);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private unary<T>(
    shard: number,
    timeoutMs: number,
    call: (c: ShardClient, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, value?: Uint8Array) => void) => void,
    decode: (b: Uint8Array) => { ok: true; value: T } | { ok: false; error: { message: string } },
  ): Promise<T> {
    const at = this.addresses[shard]!;
    return new Promise((resolve, reject) => {
      call(this.clients[shard]!, callMetadata(this.security), { deadline: Date.now() + timeoutMs }, (err, bytes) => {
        if (err?.code === grpc.status.UNAUTHENTICATED) return reject(new ShardCallError(tokenRefused(at)));
        const mismatch = err ? misconfiguration(`shard ${at}`, err.details || err.message, this.security) : undefined;
        if (mismatch) return reject(new ShardCallError(mismatch, true));
        if (err || !bytes) return reject(new ShardCallError(`shard ${at}: ${shortReason(err?.details || err?.message || "empty reply")}`));
        const d = decode(bytes);
        if (d.ok) resolve(d.value);
        else reject(new ShardCallError(`shard ${at} sent a malformed reply: ${d.error.message}`));
      });
    });
  }
}
