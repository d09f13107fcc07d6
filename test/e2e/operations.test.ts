/**
 * docs/OPERATIONS.md on one machine: a CA and a node certificate made with openssl, a cluster file
 * with mutual TLS and a cluster token, three `worm node --cluster F --id N --init` and a `worm log
 * sequencer`, a saved context, the verbs of section 4, a wrong token refused, an acceptor killed (the
 * cluster serves; inspect names it) and its directory wiped (refused, exit 2), then replaced as
 * section 6 says (`worm node --join`, `worm cluster replace`), and another original acceptor killed.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { nodeCertsOrSkip } from "./certs.ts";
import { Procs, oneLineError, runWorm, tempDir } from "./harness.ts";
import { stablePorts } from "../ports.ts";

/** Free loopback ports: each bound once to learn it, then released. */
test("a cluster as docs/OPERATIONS.md runs it: mutual TLS, a token, a context, an acceptor lost", { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, "worm-operations-");
  const etc = join(dir, "etc");
  if (!(await nodeCertsOrSkip(t, join(etc, "tls")))) return;
  const procs = new Procs(t);
  const [p1, p2, p3, ps, p4] = await stablePorts(5);
  const file = join(etc, "cluster.json");
  const token = randomBytes(24).toString("hex");
  const dataDir = (id: number) => join(dir, "var", `acceptor-${id}`);
  await writeFile(
    file,
    JSON.stringify({
      clusterId: "prod-1",
      segmentSize: 4096,
      acceptors: [p1, p2, p3].map((port, k) => ({ id: k + 1, address: `127.0.0.1:${port}`, dataDir: dataDir(k + 1) })),
      sequencers: [`127.0.0.1:${ps}`],
      tls: { cert: "tls/node.pem", key: "tls/node.key", ca: "tls/ca.pem", requireClientCert: true },
      token,
    }),
  );

  // Section 3: each acceptor's first start with --init; a sequencer.
  const nodes = [1, 2, 3].map((id) => procs.start(["node", "--cluster", file, "--id", String(id), "--init"]));
  await Promise.all(nodes.map((n) => n.waitForJson((l) => l.event === "listening")));
  const sequencer = procs.start(["log", "sequencer", "--listen", `127.0.0.1:${ps}`, "--cluster", file]);
  await sequencer.waitForJson((l) => l.event === "listening");

  // Section 4: a context, then verbs without --cluster.
  const env = { WORM_CONFIG_DIR: join(dir, "config") };
  const worm = (args: string[], input?: string) => runWorm(args, { env, cwd: dir, ...(input !== undefined ? { input } : {}) });
  const ok = async (args: string[], input?: string) => {
    const f = await worm(args, input);
    assert.equal(f.code, 0, `worm ${args.join(" ")}: ${f.stderr}`);
    return f;
  };
  await ok(["context", "save", "prod", file]);
  await ok(["context", "use", "prod"]);
  const list = await ok(["space", "list", "-v"]);
  assert.match(list.stderr, new RegExp(`^worm: cluster prod-1 \\(context prod: ${file}\\): acceptors 1 127\\.0\\.0\\.1:${p1}, 2 127\\.0\\.0\\.1:${p2}, 3 127\\.0\\.0\\.1:${p3}; quorum 2; sequencers 127\\.0\\.0\\.1:${ps}\\n$`));
  await ok(["space", "create", "orders"]);
  await writeFile(join(dir, "order-7.json"), '{"order":7}');
  await ok(["wor", "write", "orders", "7", "--value-file", "order-7.json"]);
  const read = await ok(["wor", "read", "orders", "7", "--json"]);
  assert.equal((JSON.parse(read.stdout) as { results: { value: { text: string } }[] }).results[0]!.value.text, '{"order":7}');
  await ok(["log", "create", "events"]);
  assert.equal((await ok(["log", "append", "events"], "hello\n")).stdout.trim(), "0");

  // The token and the client certificate are required.
  const wrongToken = await worm(["wor", "read", "orders", "7", "--token", "not-the-cluster-token"]);
  assert.equal(wrongToken.code, 1);
  assert.match(oneLineError(wrongToken), /token/);
  const noCert = await worm(["wor", "read", "orders", "7", "--peers", `127.0.0.1:${p1},127.0.0.1:${p2},127.0.0.1:${p3}`, "--tls-ca", join(etc, "tls", "ca.pem"), "--token", token, "--timeout", "1500"]);
  assert.equal(noCert.code, 1, "a client without a certificate is not served");

  // Section 5 and 6: one acceptor dies; the cluster serves, inspect names it.
  await nodes[2]!.kill("SIGKILL");
  const inspect = await worm(["inspect", "--json", "--timeout", "2000"]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const down = (JSON.parse(inspect.stdout) as { acceptors: { address: string; error?: string }[] }).acceptors.filter((a) => a.error !== undefined).map((a) => a.address);
  assert.deepEqual(down, [`127.0.0.1:${p3}`]);
  await ok(["wor", "write", "orders", "8", "--value", "with one acceptor down"]);

  // Its disk wiped: refused, exit 2, until it is replaced.
  await rm(dataDir(3), { recursive: true, force: true });
  const wiped = await worm(["node", "--cluster", file, "--id", "3"]);
  assert.equal(wiped.code, 2);
  assert.match(oneLineError(wiped), /holds no acceptor state/);

  // Section 6's repair: a new acceptor joins (the cluster's TLS and token from the file), replaces 3.
  const joined = procs.start(["node", "--cluster", file, "--id", "4", "--join", "--listen", `127.0.0.1:${p4}`, "--data-dir", dataDir(4)]);
  await joined.waitForJson((l) => l.event === "listening");
  const replaced = await ok(["cluster", "replace", "--acceptor", "3", "--id", "4", "--address", `127.0.0.1:${p4}`, "--data-dir", dataDir(4)]);
  assert.match(replaced.stdout, /replaced acceptor 3 by 4 in \d+ ms/);
  // Acceptor 1 dies too: 2 and 4 serve every value, through the TLS and token of the rewritten file.
  await nodes[0]!.kill("SIGKILL");
  const again = await ok(["wor", "read", "orders", "7", "--to", "9", "--json"]);
  assert.deepEqual((JSON.parse(again.stdout) as { results: { value?: { text: string } }[] }).results.map((r) => r.value?.text), ['{"order":7}', "with one acceptor down"]);
  const shown = await ok(["cluster", "show", "--json"]);
  assert.deepEqual((JSON.parse(shown.stdout) as { epoch: number; acceptors: { id: number }[] }).acceptors.map((a) => a.id), [1, 2, 4]);

  for (const p of [nodes[1]!, joined, sequencer]) assert.equal((await p.kill("SIGTERM")).code, 0);
});
