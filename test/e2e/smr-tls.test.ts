/**
 * An SMR in a cluster whose file names mutual TLS and a token (docs/OPERATIONS.md), as a user runs
 * it: one acceptor, `worm smr serve --cluster F` for two of three replicas (served with the
 * cluster's certificate and token; their peer links and snapshot fetches use the cluster's TLS and
 * token), `worm smr propose|read|status` and `worm inspect` with the cluster file. The third replica
 * starts once the log is trimmed and catches up by fetching a checkpoint from the others. Clients
 * whose TLS does not match the replica's are told so at once, by exit 2 and one line: a plaintext
 * client of a TLS replica, a client without a certificate of a replica that requires one, a client
 * of another CA (trusting it, or presenting its certificate), and a TLS client of a plaintext replica
 * (served in this process).
 */
import assert from "node:assert/strict";
import { mkdir, readFile, } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { mapMachine } from "../../apps/smr/core/map-machine.ts";
import { ReplicaNode } from "../../apps/smr/node/replica-node.ts";
import { startSmrServer } from "../../apps/smr/node/server.ts";
import { SmrClient } from "../../apps/smr/node/smr-client.ts";
import type { SmrStatusReport } from "../../apps/smr/wire/codec.ts";
import { MemoryCluster } from "../wor/memory-cluster.ts";
import { makeNodeCerts, nodeCertsOrSkip, startTlsCluster } from "./certs.ts";
import { type Finished, Procs, oneLineError, runWorm, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

const pattern = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("worm smr with a cluster file's mutual TLS and token: serve, propose, read, status, catch-up, inspect; mismatched TLS refused", { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, "worm-smr-tls-");
  const tls = join(dir, "tls");
  if (!(await nodeCertsOrSkip(t, tls))) return;
  const procs = new Procs(t);
  const [acceptor, ...replicas] = (await stableAddresses(4)) as [string, string, string, string];
  const { cluster, token } = await startTlsCluster(procs, dir, "smr-tls", [acceptor]);
  assert.equal((await runWorm(["smr", "create", "shop", ...cluster])).code, 0);
  const list = replicas.join(",");
  const serve = (k: number) =>
    procs.start(["smr", "serve", "shop", "--listen", replicas[k]!, "--replicas", list, "--data-dir", join(dir, `r${k}`), "--checkpoint-commands", "2", "--trailing-slots", "0", ...cluster]);
  await Promise.all([0, 1].map((k) => serve(k).waitForJson((l) => l.event === "listening", 60_000)));

  const smr = (...args: string[]) => runWorm(["smr", ...args, "--replicas", list]);
  const ok = (r: Finished) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const puts = await Promise.all(["a", "b", "c", "d"].map((k) => smr("propose", "shop", "put", k, `v-${k}`, "--json", ...cluster)));
  for (const p of puts) assert.equal(ok(p).previous, null);
  assert.equal(ok(await smr("read", "shop", "c", "--json", ...cluster)).value, "v-c");

  // The test's own client, with the cluster's certificate and token, waits for the trim.
  const [ca, cert, key] = await Promise.all(["ca.pem", "node.pem", "node.key"].map((f) => readFile(join(tls, f))));
  const c = new SmrClient(mapMachine, { smr: "shop", replicas, tls: { ca: ca!, cert: cert!, key: key! }, token, attemptTimeoutMs: 2_000 });
  t.after(() => c.close());
  const statuses = () => Promise.all([0, 1, 2].map((i) => c.status(i).catch((): undefined => undefined)));
  const until = async (what: string, done: (s: (SmrStatusReport | undefined)[]) => boolean) => {
    for (let tries = 0; ; tries++) {
      const s = await statuses();
      if (done(s)) return s;
      assert.ok(tries < 120, `${what}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  // Both serving replicas checkpointed (a majority of three): the log is trimmed below their position.
  await until("two replicas checkpointed", (s) => s.slice(0, 2).every((r) => r !== undefined && Object.keys(r.checkpoints).length === 2));
  const inspected = async () => {
    const r = ok(await runWorm(["inspect", "--json", ...cluster])) as { smrs: { smr: string; trimMark: number; leader: string; replicas: ({ address: string; role: string; applied: number } | { address: string; error: string })[] }[] };
    return r.smrs.find((v) => v.smr === "shop")!;
  };
  for (let tries = 0; (await inspected()).trimMark === 0; tries++) {
    assert.ok(tries < 40, "the log was never trimmed");
    await new Promise((r) => setTimeout(r, 250));
  }
  // The third replica: its first slot is trimmed, so it fetches a checkpoint from a holder (TLS, token).
  await serve(2).waitForJson((l) => l.event === "listening", 60_000);
  await until("the third replica caught up", (s) => s[2] !== undefined && !s[2].catchingUp && s[2].applied > 0 && s[2].applied === s[0]?.applied && s[2].leader !== undefined);
  assert.equal(ok(await runWorm(["smr", "read", "shop", "d", "--stale", "--json", "--replicas", replicas[2]!, ...cluster])).value, "v-d");

  // status and inspect with the cluster file: one leader, and every replica names it (peer links over TLS).
  const status = ok(await smr("status", "shop", "--json", ...cluster)) as { replicas: { address: string; role: string; leader: string }[] };
  const leader = status.replicas.find((r) => r.role === "leader")!.address;
  assert.deepEqual(status.replicas.map((r) => [r.address, r.leader]), replicas.map((a) => [a, leader]));
  const view = await inspected();
  assert.equal(view.leader, leader);
  assert.deepEqual(view.replicas.map((r) => [r.address, "role" in r ? r.role : r.error]).sort(), replicas.map((a) => [a, a === leader ? "leader" : "follower"]).sort());
  const table = await runWorm(["inspect", ...cluster]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`shop +${view.trimMark} +${pattern(leader)} +leader +${pattern(leader)} +\\d+`));

  // A plaintext client (the token, no TLS) is refused by name, at once: no retries until its time runs out.
  const plainRead = await runWorm(["smr", "read", "shop", "a", "--replicas", replicas[0]!, "--token", token, "--timeout", "60000"]);
  assert.equal(plainRead.code, 2, plainRead.stderr);
  assert.match(oneLineError(plainRead), new RegExp(`^worm: invalid: replica ${pattern(replicas[0]!)}: the replica did not take this client's plaintext connection: it serves TLS, probably \\(give the cluster file it serves with, or --tls-ca\\)$`));
  const plainStatus = await runWorm(["smr", "status", "shop", "--replicas", replicas[1]!, "--token", token]);
  assert.equal(plainStatus.code, 2);
  assert.equal(oneLineError(plainStatus), "worm: 1 of 1 replicas refused this client (its row says why)");
  assert.match(plainStatus.stdout, new RegExp(`${pattern(replicas[1]!)} .*replica ${pattern(replicas[1]!)}: the replica did not take this client's plaintext connection`));
  // TLS without a client certificate, where the cluster requires one.
  const noCert = await runWorm(["smr", "propose", "shop", "put", "x", "1", "--replicas", replicas[0]!, "--tls-ca", join(tls, "ca.pem"), "--token", token, "--timeout", "60000"]);
  assert.equal(noCert.code, 2, noCert.stderr);
  assert.match(oneLineError(noCert), /^worm: invalid: replica \S+: the replica requires a client certificate \(mutual TLS\), and this client has none \(--tls-cert and --tls-key, or the cluster file's tls with requireClientCert\)$/);

  // Another CA's certificate: neither end trusts the other's.
  const stranger = join(dir, "stranger");
  await mkdir(stranger);
  await makeNodeCerts(stranger);
  const untrusted = await runWorm(["smr", "read", "shop", "a", "--replicas", replicas[0]!, "--token", token, "--timeout", "60000", ...["ca.pem", "node.pem", "node.key"].flatMap((f, k) => [["--tls-ca", "--tls-cert", "--tls-key"][k]!, join(stranger, f)])]);
  assert.equal(untrusted.code, 2, untrusted.stderr);
  assert.match(oneLineError(untrusted), /^worm: invalid: replica \S+: the replica and this client do not trust each other's TLS certificates \([^:]+: give the cluster file it serves with, or --tls-ca\)$/);

  // The cluster's CA, but a certificate of another: the replica closes the connection in its handshake.
  const foreignCert = await runWorm(["smr", "read", "shop", "a", "--replicas", replicas[0]!, "--token", token, "--timeout", "60000", "--tls-ca", join(tls, "ca.pem"), "--tls-cert", join(stranger, "node.pem"), "--tls-key", join(stranger, "node.key")]);
  assert.equal(foreignCert.code, 2, foreignCert.stderr);
  assert.match(oneLineError(foreignCert), /^worm: invalid: replica \S+: the replica closed this client's TLS connection: it does not trust this client's certificate, probably \(give the cluster file it serves with, or --tls-cert and --tls-key\)$/);

  // The reverse: a replica served in plaintext (in this process), a client with the cluster's TLS.
  const memory = await MemoryCluster.start();
  const { client } = memory.client({ roundTimeoutMs: 1_000 });
  await client.createSpace("plain", { kind: "smr", segmentSize: 64 });
  const [plain] = (await stableAddresses(1)) as [string];
  const node = await ReplicaNode.start({ client, smr: "plain", id: plain, peers: [plain], machine: mapMachine, dataDir: join(dir, "plain"), config: { electionTimeoutMs: 200, heartbeatMs: 20 } });
  const server = await startSmrServer({ node, smr: "plain", port: Number(plain.split(":")[1]) });
  t.after(async () => {
    await server.close();
    await node.close();
    await memory.close();
  });
  const tlsRead = await runWorm(["smr", "read", "plain", "a", "--replicas", plain, "--timeout", "60000", ...cluster]);
  assert.equal(tlsRead.code, 2, tlsRead.stderr);
  assert.match(oneLineError(tlsRead), new RegExp(`^worm: invalid: replica ${pattern(plain)}: the replica does not serve TLS, and this client connects with TLS \\(from --tls-ca or the cluster file's tls: give the cluster file it serves with\\)$`));
});
