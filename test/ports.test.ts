/** test/ports.ts: ports a restarted server can bind again, from below the kernel's ephemeral range. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { test } from "node:test";
import { stablePorts } from "./ports.ts";

test("stable ports are distinct, below the ephemeral range, and free to bind", { timeout: 20_000 }, async () => {
  const ports = await stablePorts(8);
  assert.equal(new Set(ports).size, 8);
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  for (const p of ports) assert.ok(p >= 1_024 && p < low, `port ${p} is not below the ephemeral range (from ${low})`);
  for (const p of ports) {
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(p, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});
