/**
 * A throwaway CA and a node certificate for 127.0.0.1 made with openssl (docs/OPERATIONS.md, section
 * 2), for e2e tests of a cluster file with TLS. Throws when openssl is missing: the test skips.
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Writes ca.pem, node.pem and node.key into `dir`. */
export async function makeNodeCerts(dir: string): Promise<void> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=worm-ca");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=worm-node");
  await writeFile(join(dir, "node.ext"), "subjectAltName=IP:127.0.0.1\n");
  run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", "-days", "1", "-extfile", "node.ext");
}
