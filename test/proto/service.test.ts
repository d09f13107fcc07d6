import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { decodeClientFrames, decodeServerFrames, decodeStatus, decodeStatusRequest, encodeClientFrames, encodeServerFrames, encodeStatus, encodeStatusRequest } from "../../wor/wire/codec.ts";
import type { ServerFrame } from "../../wor/core/frames.ts";
import { ACCEPTOR_METHOD_PATHS, type AcceptorClient, type AcceptorHandlers, AcceptorService, makeAcceptorClient } from "../../wor/wire/service.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

const STATUS: AcceptorStatus = {
  acceptorId: 3,
  clusterId: "c1",
  version: "0.1.0",
  spaces: [{ name: "log", trimMark: 4, addresses: 10, ranges: 1, highestAccepted: 12 }],
  joining: false,
};

/** A tiny node: answers each valid frame with "committed", each invalid one with its error. */
const handlers: AcceptorHandlers = {
  session(call) {
    call.on("data", (bytes: Uint8Array) => {
      const d = decodeClientFrames(bytes);
      const out: ServerFrame[] = d.ok
        ? d.value.map((f) =>
            f.kind === "invalid"
              ? { id: f.id, kind: "reply", reply: { kind: "error", code: "invalid", message: f.error.message } }
              : { id: f.id, kind: "reply", reply: { kind: "committed" } },
          )
        : [{ id: 0, kind: "reply", reply: { kind: "error", code: "invalid", message: d.error.message } }];
      call.write(encodeServerFrames(out));
    });
    call.on("end", () => call.end());
  },
  status(call, callback) {
    assert.ok(decodeStatusRequest(call.request).ok);
    callback(null, encodeStatus(STATUS));
  },
  inspect(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED });
  },
  reconfigure(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED });
  },
  activate(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED });
  },
  blocks(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED });
  },
};

describe("Acceptor service over loopback gRPC", () => {
  let server: grpc.Server;
  let client: AcceptorClient;

  before(async () => {
    server = new grpc.Server(CHANNEL_OPTIONS);
    server.addService(AcceptorService, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new makeAcceptorClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  });

  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("exposes the method paths of wormspace.v1.Acceptor", () => {
    assert.equal(ACCEPTOR_METHOD_PATHS.session, "/wormspace.v1.Acceptor/Session");
    assert.equal(AcceptorService.status.path, "/wormspace.v1.Acceptor/Status");
    assert.equal(AcceptorService.session.requestStream && AcceptorService.session.responseStream, true);
  });

  it("a garbage envelope does not kill the session stream", async () => {
    const call = client.session();
    const received: Uint8Array[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (b: Uint8Array) => {
        received.push(b);
        if (received.length === 2) call.end();
      });
      call.on("end", resolve);
      call.on("error", reject);
    });
    call.write(new Uint8Array([0xff, 0xff, 0xff]));
    call.write(encodeClientFrames([{ id: 5, kind: "unwatch", watchId: 1 }, { id: 6, kind: "watch", space: "bad name", from: 0 }]));
    await done;
    const first = decodeServerFrames(received[0]!);
    assert.ok(first.ok && first.value[0]!.kind === "reply" && first.value[0]!.reply.kind === "error");
    const second = decodeServerFrames(received[1]!);
    assert.ok(second.ok);
    assert.deepStrictEqual(
      second.value.map((f) => [f.id, f.kind === "reply" ? f.reply.kind : f.kind]),
      [
        [5, "committed"],
        [6, "error"],
      ],
    );
  });

  it("Status is a unary call of raw bytes through the codec", async () => {
    const bytes = await new Promise<Uint8Array>((resolve, reject) =>
      client.status(encodeStatusRequest(), (err, value) => (err || !value ? reject(err) : resolve(value))),
    );
    assert.deepStrictEqual(decodeStatus(bytes), { ok: true, value: STATUS });
  });
});
