/**
 * The cluster id on every call (issue: a cluster file with another `clusterId` still wrote). A client
 * sends its cluster file's id in the `wormspace-cluster-id` metadata; an acceptor of another cluster
 * refuses its session and its Status / Inspect calls with FAILED_PRECONDITION, naming both ids. A
 * client without a cluster id (`--peers`) is served, like one naming the right cluster.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { decodeServerFrames, encodeClientFrames, encodeInspectRequest, encodeStatusRequest } from "../../wor/wire/codec.ts";
import { type AcceptorClient, makeAcceptorClient } from "../../wor/wire/service.ts";
import { AcceptorNode } from "../../wor/node/acceptor-node.ts";
import { AdminClient } from "../../wor/node/admin-client.ts";
import { WorClient, type WorError } from "../../wor/node/client.ts";
import { CLUSTER_ID_METADATA, callMetadata, clusterMismatch } from "../../wor/node/credentials.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import { type AcceptorServer, startAcceptorServer } from "../../wor/node/grpc-server.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

const CLUSTER = "dev-1234";

describe("the cluster id", { timeout: 30_000 }, () => {
  let dir: string;
  let server: AcceptorServer;
  let address: string;
  let raw: AcceptorClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "wor-cluster-id-"));
    const node = await AcceptorNode.open({ storage: await LevelStorage.open(dir), identity: { clusterId: CLUSTER, acceptorId: 1 }, init: true });
    server = await startAcceptorServer({ node });
    address = `127.0.0.1:${server.port}`;
    raw = new makeAcceptorClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  });
  after(async () => {
    raw.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Open a session with `md`, ask for one thing; the reply frame count, or the error that ended it. */
  function session(md: grpc.Metadata): Promise<{ frames: number } | { error: grpc.ServiceError }> {
    const call = raw.session(md);
    return new Promise((resolve) => {
      call.on("data", (bytes: Uint8Array) => {
        const d = decodeServerFrames(bytes);
        resolve({ frames: d.ok ? d.value.length : -1 });
        call.end();
      });
      call.on("error", (error: grpc.ServiceError) => resolve({ error }));
      call.write(encodeClientFrames([{ id: 1, kind: "request", request: { kind: "createSpace", space: "s" } }]));
    });
  }

  const unary = (method: "status" | "inspect", md: grpc.Metadata) =>
    new Promise<grpc.ServiceError | null>((resolve) => {
      const request = method === "status" ? encodeStatusRequest() : encodeInspectRequest({ space: "s", from: 0, to: 1 });
      raw[method](request, md, (err) => resolve(err));
    });

  test("a session naming another cluster is refused with both ids; the metadata comes from ClientSecurity", async () => {
    const md = callMetadata({ clusterId: "dev-9999" });
    assert.deepEqual(md.get(CLUSTER_ID_METADATA), ["dev-9999"]);
    const r = await session(md);
    assert.ok("error" in r, "the session was served");
    assert.equal(r.error.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(r.error.details, "this acceptor belongs to cluster dev-1234, not dev-9999");
    assert.deepEqual(clusterMismatch(r.error.details), { server: "dev-1234", client: "dev-9999" });
  });

  test("a session naming this cluster, or none, is served", async () => {
    for (const md of [callMetadata({ clusterId: CLUSTER }), callMetadata({})]) {
      const r = await session(md);
      assert.deepEqual(r, { frames: 1 });
    }
  });

  test("Status and Inspect check the cluster id too", async () => {
    for (const method of ["status", "inspect"] as const) {
      const err = await unary(method, callMetadata({ clusterId: "dev-9999" }));
      assert.equal(err?.code, grpc.status.FAILED_PRECONDITION, method);
      assert.match(err?.details ?? "", /belongs to cluster dev-1234, not dev-9999/);
      assert.equal(await unary(method, callMetadata({ clusterId: CLUSTER })), null, method);
      assert.equal(await unary(method, callMetadata({})), null, method);
    }
    const admin = new AdminClient(address, { clusterId: "dev-9999" });
    try {
      await assert.rejects(admin.status(), (e: WorError) => e.code === "invalid" && e.message === `invalid: acceptor ${address} belongs to cluster dev-1234, not dev-9999`);
    } finally {
      admin.close();
    }
  });

  test("a WorClient over grpcTransport with another cluster id is refused on every reconnect and writes nothing", async () => {
    const reasons: string[] = [];
    const inner = grpcTransport({ addresses: [address], clusterId: "dev-9999" });
    const transport = {
      connect: (a: number, events: Parameters<typeof inner.connect>[1]) => inner.connect(a, {
          ...events,
          onDown: (why) => {
            reasons.push(why);
            events.onDown(why);
          },
        }),
    };
    const c = new WorClient({ transport, acceptors: 1, segmentSize: 64, roundTimeoutMs: 500, resendMs: 100 });
    try {
      // Refused before it ever reached the acceptor: the round fails at once, saying why.
      await assert.rejects(c.createSpace("elsewhere"), (e: WorError) => e.code === "unavailable" && /belongs to cluster dev-1234, not dev-9999/.test(e.message));
    } finally {
      c.close();
    }
    assert.ok(reasons.length > 0 && reasons.every((r) => clusterMismatch(r)?.client === "dev-9999"), JSON.stringify(reasons));
    const admin = new AdminClient(address, { clusterId: CLUSTER });
    const status = await admin.status();
    admin.close();
    assert.equal(status.spaces.find((s) => s.name === "elsewhere"), undefined, "nothing was written");
  });
});
