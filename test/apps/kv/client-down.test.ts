/**
 * What the KV client says when a partition's node is down or stopped (apps/kv/node/kv-client.ts):
 * a request names the node it could not reach, and a status names it with a short reason (not
 * grpc-js's resolver notes).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { KvClient } from "../../../apps/kv/node/kv-client.ts";
import { partitionMap } from "../../../apps/kv/core/partitions.ts";
import { stablePorts } from "../../ports.ts";

describe("the KV client, its node down", () => {
  it("names the node that refused the connection", { timeout: 20_000 }, async () => {
    const node = `127.0.0.1:${(await stablePorts(1))[0]}`;
    const client = new KvClient({ map: partitionMap("kv", 0, [node], []), attemptTimeoutMs: 1_000, retryForMs: 0 });
    try {
      const put = await client.put("k", new Uint8Array([1]));
      assert.ok(!put.ok);
      assert.equal(put.failure.code, "unavailable");
      assert.equal(put.failure.message, `the KV node at ${node}: connection refused`);
      const [status] = await client.status();
      assert.ok(status && !status.ok);
      assert.equal(status.failure.message, `node ${node}: connection refused`);
    } finally {
      client.close();
    }
  });

  it("says how long a status waited for a node that accepts connections and never answers", { timeout: 20_000 }, async () => {
    // A stopped process: the kernel accepts its connections, nothing reads them.
    const sockets = new Set<net.Socket>();
    const mute = net.createServer((s) => void sockets.add(s));
    await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
    const node = `127.0.0.1:${(mute.address() as net.AddressInfo).port}`;
    const client = new KvClient({ map: partitionMap("kv", 0, [node], []), attemptTimeoutMs: 300, retryForMs: 0 });
    try {
      const [status] = await client.status();
      assert.ok(status && !status.ok);
      assert.equal(status.failure.message, `node ${node}: no answer within 300 ms`);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });
});
