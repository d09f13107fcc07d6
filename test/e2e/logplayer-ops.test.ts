/**
 * LogPlayer operated as docs/OPERATIONS.md runs a cluster: a cluster file with mutual TLS and a
 * token, three acceptors, two `worm shard serve --cluster F` (served with the cluster's certificate
 * and token). A shard refuses a reader with a wrong token ("shard A refused the token") and a
 * plaintext client; a shard serving another token refuses the player, which exits 1 (as a client
 * whose token the acceptors refuse) having applied nothing; with the cluster file they are served.
 * `worm inspect` shows the player group: its epoch, and each shard's applied position, lag and
 * epoch, and its player's report (window 0/8192, nothing queued, not behind), as does `worm
 * logplayer status`; with a shard stopped it says that shard is unreachable and still exits 0.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { nodeCertsOrSkip, startTlsCluster } from "./certs.ts";
import { Procs, oneLineError, runWorm, tempDir } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

interface InspectPlayers {
  players: { group: string; epoch: number; player?: string; log?: string; tail?: number; shards: ({ address: string; applied: number; lag: number; epoch: number; player: { epoch: number; inflight: number; window: number; queued: number; behind: boolean; ageMs: number } | null } | { address: string; error: string })[] }[];
}

test("LogPlayer shards with the cluster's TLS and token, and the player group in worm inspect", { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, "worm-lp-ops-");
  const tls = join(dir, "tls");
  if (!(await nodeCertsOrSkip(t, tls))) return;
  const procs = new Procs(t);
  const acceptors = await stableAddresses(3);
  const { cluster } = await startTlsCluster(procs, dir, "lp-ops", acceptors);
  assert.equal((await runWorm(["log", "create", "wal", ...cluster])).code, 0);
  const entries = Array.from({ length: 30 }, (_, i) => `e${i}`);
  const appended = await runWorm(["log", "append", "wal", "--embedded-sequencer", ...cluster], { input: `${entries.join("\n")}\n` });
  assert.equal(appended.code, 0, appended.stderr);

  const shard = async (i: number) => {
    const proc = procs.start(["shard", "serve", "--dir", join(dir, `s${i}`), ...cluster]);
    return { proc, address: `127.0.0.1:${(await proc.waitForJson((l) => l.event === "listening", 60_000)).port as number}` };
  };
  const shards = await Promise.all([shard(0), shard(1)]);
  const list = shards.map((s) => s.address).join(",");
  const refused = (address: string) => new RegExp(`^worm: shard ${address.replaceAll(".", "\\.")} refused the token \\(check --token or the cluster file's token\\)$`);

  // Without the token (a wrong one over the cluster's TLS): refused by name. Plaintext: not served.
  const wrongRead = await runWorm(["shard", "read", shards[0]!.address, ...cluster, "--token", "wrong"]);
  assert.equal(wrongRead.code, 1);
  assert.match(oneLineError(wrongRead), refused(shards[0]!.address));
  const plainRead = await runWorm(["shard", "read", shards[0]!.address]);
  assert.equal(plainRead.code, 2, "a plaintext client is not served by a TLS shard");
  assert.equal(
    oneLineError(plainRead),
    `worm: shard ${shards[0]!.address} did not take this client's plaintext connection: it serves TLS, probably (give the cluster file it serves with, or --tls-ca)`,
  );
  // A shard that holds another token than the player (--token overrides the cluster file's): the player stops.
  const other = procs.start(["shard", "serve", "--dir", join(dir, "other"), ...cluster, "--token", "another-token"]);
  const otherAddress = `127.0.0.1:${(await other.waitForJson((l) => l.event === "listening", 60_000)).port as number}`;
  const intruder = await runWorm(["logplayer", "run", "--log", "wal", "--group", "other", "--shards", otherAddress, ...cluster], { deadlineMs: 60_000 });
  assert.equal(intruder.code, 1, intruder.stderr);
  assert.match(oneLineError(intruder), refused(otherAddress));
  const untouched = await runWorm(["shard", "read", otherAddress, "--json", ...cluster, "--token", "another-token"]);
  assert.equal((JSON.parse(untouched.stdout) as { applied: number }).applied, -1, "the refused player applied nothing");
  assert.equal((await other.kill("SIGTERM")).code, 0);

  // The cluster's token: delivered.
  const player = procs.start(["logplayer", "run", "--log", "wal", "--shards", list, "--name", "p1", ...cluster]);
  const epoch = (await player.waitForJson((l) => l.event === "playing", 60_000)).epoch as number;
  const inspect = async () => {
    const r = await runWorm(["inspect", "--json", ...cluster]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as InspectPlayers).players.filter((g) => g.group === "wal-player");
  };
  for (let tries = 0; ; tries++) {
    const [group] = await inspect();
    // Caught up, and the player reported the last ack (nothing in flight).
    const caughtUp = group?.shards.every((s) => "lag" in s && s.lag === 0 && s.epoch === epoch && s.player?.inflight === 0);
    if (caughtUp) {
      assert.deepEqual({ ...group, shards: undefined }, { group: "wal-player", epoch, player: "p1", log: "wal", tail: 30, shards: undefined });
      assert.deepEqual(group!.shards.map((s) => ("applied" in s ? [s.address, s.applied, s.lag, s.epoch, { ...s.player, ageMs: undefined }] : s)), shards.map((s) => [s.address, 29, 0, epoch, { epoch, inflight: 0, window: 8_192, queued: 0, behind: false, ageMs: undefined }]));
      break;
    }
    assert.ok(tries < 60, `the shards did not catch up: ${JSON.stringify(group)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // 'worm logplayer status' shows the same report as columns.
  const status = await runWorm(["logplayer", "status", "--log", "wal", "--shards", list, ...cluster]);
  assert.equal(status.code, 0, status.stderr);
  for (const sh of shards) assert.match(status.stdout, new RegExp(`${sh.address.replaceAll(".", "\\.")} +29 +0 +${epoch} +wal-player +\\d+ +0/8192 +0 +no`), status.stdout);
  const rows = await runWorm(["shard", "read", shards[1]!.address, "--json", ...cluster]);
  assert.equal(rows.code, 0, rows.stderr);
  assert.equal((JSON.parse(rows.stdout) as { applied: number }).applied, 29);

  // A shard stopped: inspect says so and still answers (exit 0), in JSON and in its table.
  assert.equal((await shards[1]!.proc.kill("SIGTERM")).code, 0);
  const [group] = await inspect();
  assert.ok(group && "error" in group.shards[1]! && "lag" in group.shards[0]!, JSON.stringify(group));
  const table = await runWorm(["inspect", ...cluster]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`wal-player +${epoch} +wal +30 +${shards[0]!.address.replaceAll(".", "\\.")} +29 +0 +${epoch} +0/8192 +0 +no +up`));
  assert.match(table.stdout, new RegExp(`wal-player +${epoch} +wal +30 +${shards[1]!.address.replaceAll(".", "\\.")} .*unreachable: shard`));
});
