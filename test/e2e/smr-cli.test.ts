/**
 * `worm smr create|serve|propose|read|status` and `worm inspect`'s replicas, as a user runs them:
 * one acceptor process, a set of one replica (`worm smr serve`), the verbs against it. A retry with
 * the same `--key` is answered with the first result and applied once; bad input is a one-line
 * usage error.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { type Finished, Procs, addressesOf, runWorm, startCluster, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

test("worm smr: create, serve, propose (a retried key applied once), read, status, and inspect's replicas", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-smr-cli-");
  const nodes = await startCluster(procs, dir, "smrcli", 1);
  const cluster = join(dir, "cluster.json");
  await writeFile(cluster, JSON.stringify({ clusterId: "smrcli", segmentSize: 64, acceptors: nodes.map((n, k) => ({ id: n.id, address: addressesOf(nodes)[k] })) }));
  assert.equal((await runWorm(["smr", "create", "shop", "--cluster", cluster])).code, 0);
  const [replica] = await stableAddresses(1);
  const serve = procs.start(["smr", "serve", "shop", "--listen", replica!, "--replicas", replica!, "--data-dir", join(dir, "r"), "--cluster", cluster]);
  await serve.waitForJson((l) => l.event === "listening");
  const smr = (...args: string[]) => runWorm(["smr", ...args, "--replicas", replica!]);
  const json = (r: Finished) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  assert.deepEqual(json(await smr("propose", "shop", "put", "a", "1", "--key", "cli:1", "--json")).previous, null);
  // The same key again (another value): its first result, and the second value is never applied.
  assert.deepEqual(json(await smr("propose", "shop", "put", "a", "2", "--key", "cli:1", "--json")).previous, null);
  assert.equal(json(await smr("read", "shop", "a", "--json")).value, "1");
  const put = await smr("propose", "shop", "put", "a", "3");
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /^put \(previous: 1; applied below position \d+\)\n$/);
  assert.equal(json(await smr("read", "shop", "a", "--stale", "--json")).value, "3");

  const status = json(await smr("status", "shop", "--json")) as { replicas: { address: string; role: string; applied: number }[] };
  assert.equal(status.replicas.length, 1);
  assert.equal(status.replicas[0]!.role, "leader");
  assert.ok(status.replicas[0]!.applied >= 2, "two commands applied (the retry is answered from the session table)");
  const inspect = json(await runWorm(["inspect", "--json", "--cluster", cluster])) as { smrs: { smr: string; leader: string; replicas: { address: string; role: string }[] }[] };
  assert.deepEqual(
    inspect.smrs.map((s) => [s.smr, s.leader, s.replicas.map((r) => [r.address, r.role])]),
    [["shop", replica, [[replica, "leader"]]]],
  );

  const bad = await smr("propose", "shop", "frob", "a");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^worm: a command is 'put KEY VALUE' or 'delete KEY' \(got "frob a"\)\n$/);

  // A replica of a machine that does not exist: the message names the verb that creates one.
  const [other] = await stableAddresses(1);
  const none = await runWorm(["smr", "serve", "nosuch", "--listen", other!, "--replicas", other!, "--data-dir", join(dir, "n"), "--cluster", cluster]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^worm: no smr space named nosuch; create it with 'worm smr create nosuch'\n$/);
});
