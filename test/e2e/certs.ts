/**
 * A throwaway CA and a node certificate for 127.0.0.1 made with openssl (docs/OPERATIONS.md, section
 * 2), for e2e tests of a cluster file with TLS. `makeNodeCerts` throws when openssl is missing;
 * `nodeCertsOrSkip` skips the test then.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Procs } from "./harness.ts";

/** Makes `dir` and the certificates in it; false (the test skipped) when openssl is not available. */
export async function nodeCertsOrSkip(t: TestContext, dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  try {
    await makeNodeCerts(dir);
    return true;
  } catch {
    t.skip("openssl is not available");
    return false;
  }
}

/** Writes ca.pem, node.pem and node.key into `dir`. */
export async function makeNodeCerts(dir: string): Promise<void> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=worm-ca");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=worm-node");
  await writeFile(join(dir, "node.ext"), "subjectAltName=IP:127.0.0.1\n");
  run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", "-days", "1", "-extfile", "node.ext");
}

/**
 * A cluster file in `dir` naming mutual TLS (the certificates of `nodeCertsOrSkip` in `dir`/tls), a
 * fresh token and an acceptor at each of `acceptors` (ids 1..n, data in `dir`/a<id>), and those
 * acceptors started (`--init`) and listening. `cluster` is the `--cluster FILE` pair.
 */
export async function startTlsCluster(procs: Procs, dir: string, clusterId: string, acceptors: readonly string[]): Promise<{ readonly cluster: readonly string[]; readonly token: string }> {
  const file = join(dir, "cluster.json");
  const token = randomBytes(24).toString("hex");
  await writeFile(
    file,
    JSON.stringify({
      clusterId,
      segmentSize: 64,
      acceptors: acceptors.map((address, k) => ({ id: k + 1, address, dataDir: join(dir, `a${k + 1}`) })),
      tls: { cert: "tls/node.pem", key: "tls/node.key", ca: "tls/ca.pem", requireClientCert: true },
      token,
    }),
  );
  const cluster = ["--cluster", file];
  await Promise.all(acceptors.map((_, k) => procs.start(["node", ...cluster, "--id", String(k + 1), "--init"]).waitForJson((l) => l.event === "listening", 60_000)));
  return { cluster, token };
}
