/**
 * `worm` on bad input and unreachable clusters: every failure is ONE line `worm: ...` on stderr,
 * with exit code 2 for bad input and 1 for operational failures, never a stack trace.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { oneLineError, runWorm, tempDir } from "../e2e/harness.ts";

/** A loopback port nobody listens on: bound once to learn a free one, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("worm reports bad input in one line with exit code 2", { concurrency: 4 }, () => {
  const cases: { name: string; args: string[]; message: RegExp }[] = [
    { name: "unknown flag", args: ["wor", "read", "s", "0", "--peers", "127.0.0.1:1", "--bogus"], message: /unknown flag --bogus/ },
    { name: "unknown verb", args: ["wor", "rite", "s", "0"], message: /unknown command "rite".*did you mean "write"/ },
    { name: "missing verb", args: ["wor"], message: /"worm wor" needs a command: one of capture, write/ },
    { name: "non-numeric address", args: ["wor", "read", "s", "x", "--peers", "127.0.0.1:1"], message: /address/ },
    { name: "invalid space name", args: ["wor", "read", "bad/name", "0", "--peers", "127.0.0.1:1"], message: /invalid space name "bad\/name"/ },
    { name: "no cluster given", args: ["wor", "read", "s", "0"], message: /give --cluster FILE or --peers/ },
    { name: "both cluster and peers", args: ["wor", "read", "s", "0", "--cluster", "x.json", "--peers", "127.0.0.1:1"], message: /not both/ },
    { name: "write without a value", args: ["wor", "write", "s", "0", "--peers", "127.0.0.1:1"], message: /missing value/ },
    { name: "range ending below its start", args: ["wor", "read", "s", "5", "--to", "2", "--peers", "127.0.0.1:1"], message: /--to 2 must be above the address 5/ },
    { name: "missing cluster file", args: ["inspect", "--cluster", "/nonexistent/cluster.json"], message: /cluster file not found: \/nonexistent\/cluster.json/ },
    { name: "node without identity or address", args: ["node", "--id", "1", "--data-dir", "/tmp/x"], message: /give --cluster FILE, or --listen host:port with --cluster-id/ },
    { name: "dev with too many acceptors", args: ["dev", "--acceptors", "99", "--data-dir", "/tmp/never-created"], message: /--acceptors must be 1\.\.15/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const f = await runWorm(c.args);
      assert.equal(f.code, 2, `exit code for ${c.args.join(" ")}: stderr ${f.stderr}`);
      assert.match(oneLineError(f), c.message);
      assert.equal(f.stdout, "", "nothing on stdout");
    });
  }
});

describe("worm rejects malformed cluster files", { concurrency: 3 }, () => {
  const files: { name: string; verb: "wor" | "inspect"; body: string; message: RegExp }[] = [
    { name: "not JSON", verb: "wor", body: "{ clusterId: ", message: /invalid cluster file: not JSON/ },
    { name: "missing fields", verb: "inspect", body: JSON.stringify({ acceptors: [] }), message: /clusterId: required.*segmentSize: required.*acceptors: required/ },
    { name: "unsafe quorum", verb: "wor", body: JSON.stringify({ clusterId: "c", segmentSize: 64, quorum: 1, acceptors: [{ id: 1, address: "127.0.0.1:1" }, { id: 2, address: "127.0.0.1:2" }, { id: 3, address: "127.0.0.1:3" }] }), message: /quorum: 1 of 3 acceptors is unsafe/ },
    { name: "duplicate ids", verb: "inspect", body: JSON.stringify({ clusterId: "c", segmentSize: 64, acceptors: [{ id: 1, address: "127.0.0.1:1" }, { id: 1, address: "127.0.0.1:2" }] }), message: /acceptors\[1\]\.id: 1 is also the id of acceptors\[0\]/ },
  ];
  for (const c of files) {
    test(c.name, async (t) => {
      const dir = await tempDir(t, "worm-cli-");
      const file = join(dir, "cluster.json");
      await writeFile(file, c.body);
      const f = await runWorm(c.verb === "inspect" ? ["inspect", "--cluster", file] : ["wor", "read", "s", "0", "--cluster", file]);
      assert.equal(f.code, 2, `exit code: stderr ${f.stderr}`);
      assert.match(oneLineError(f), c.message);
    });
  }
});

describe("worm fails fast and in one line when acceptors are unreachable", { concurrency: 3 }, () => {
  test("a read against a port nobody listens on: exit 1 within a few seconds, naming the address", async () => {
    const port = await deadPort();
    const f = await runWorm(["wor", "read", "s", "0", "--peers", `127.0.0.1:${port}`, "--timeout", "1500"]);
    assert.equal(f.code, 1, f.stderr);
    const line = oneLineError(f);
    // The read first reads the space's metadata (where does it live?): that round finds no quorum.
    assert.match(line, new RegExp(`no quorum for read of the metadata of s: 0 of 1 acceptors answered, acceptor 1 \\(127\\.0\\.0\\.1:${port}\\) unreachable \\(connection refused\\)`));
    assert.ok(f.ms < 15_000, `took ${f.ms} ms`);
  });

  test("a write to a cluster file whose acceptors are all down: exit 1", async (t) => {
    const dir = await tempDir(t, "worm-cli-");
    const ports = [await deadPort(), await deadPort(), await deadPort()];
    const file = join(dir, "cluster.json");
    await writeFile(file, JSON.stringify({ clusterId: "down", segmentSize: 64, acceptors: ports.map((p, k) => ({ id: k + 1, address: `127.0.0.1:${p}` })) }));
    const f = await runWorm(["wor", "write", "s", "0", "--value", "x", "--cluster", file, "--timeout", "1500"]);
    assert.equal(f.code, 1, f.stderr);
    // Decided as soon as two links are refused: the third may not have reported yet.
    const line = oneLineError(f);
    // The write first reads the space's metadata (is it a register space?): that round finds no quorum.
    assert.match(line, /no quorum for read of the metadata of s: 0 of 3 acceptors answered, .* unreachable \(connection refused\)/);
    for (const [k, p] of ports.entries()) assert.ok(line.includes(`acceptor ${k + 1} (127.0.0.1:${p})`), line);
  });

  test("inspect with every acceptor down: exit 1", async () => {
    const port = await deadPort();
    const f = await runWorm(["inspect", "--peers", `127.0.0.1:${port}`, "--timeout", "1500"]);
    assert.equal(f.code, 1, f.stderr);
    assert.match(oneLineError(f), new RegExp(`no acceptor answered: 127\\.0\\.0\\.1:${port}`));
  });
});

describe("worm node refuses to start", { concurrency: 2 }, () => {
  test("on a port in use: exit 1, one line", async (t) => {
    const dir = await tempDir(t, "worm-cli-");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const f = await runWorm(["node", "--id", "1", "--cluster-id", "c1", "--listen", `127.0.0.1:${port}`, "--data-dir", join(dir, "a1"), "--init"]);
    assert.equal(f.code, 1, f.stderr);
    assert.equal(oneLineError(f), `worm: acceptor 1 of cluster c1: cannot listen on 127.0.0.1:${port}: address in use`);
  });

  test("an empty data directory without --init: exit 2 and why", async (t) => {
    const dir = await tempDir(t, "worm-cli-");
    const data = join(dir, "a1");
    await mkdir(data);
    const f = await runWorm(["node", "--id", "1", "--cluster-id", "c1", "--listen", "127.0.0.1:0", "--data-dir", data]);
    assert.equal(f.code, 2, f.stderr);
    const line = oneLineError(f);
    assert.match(line, /refusing to start acceptor 1 of cluster c1: .* holds no acceptor state/);
    assert.match(line, /--init/);
    assert.match(line, /wiped or lost, it must not rejoin under its old id/);
  });
});
