/**
 * Which cluster a verb uses: `--cluster` (always wins), else `WORM_CLUSTER`, else the saved context in
 * use (`worm context save|use|list|remove`); relative paths are the caller's, also through `npm run
 * worm` (which runs in the package's folder); `-v` says on stderr which cluster it used and why.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { Procs, REPO, oneLineError, runWorm, tempDir } from "../e2e/harness.ts";

const exec = promisify(execFile);

test("WORM_CLUSTER, --cluster, saved contexts, relative paths from the caller's directory, and -v", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-context-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const file = join(dir, "dev", "cluster.json");
  const config = join(dir, "config");
  const elsewhere = join(dir, "elsewhere");
  await mkdir(elsewhere);
  const read = ["wor", "read", "dev", "0", "--json"];
  const written = (stdout: string) => (JSON.parse(stdout) as { results: { result: string }[] }).results[0]!.result;

  // WORM_CLUSTER, relative to the directory the command runs in; -v names the cluster and the source.
  const viaEnv = await runWorm([...read, "-v"], { cwd: dir, env: { WORM_CLUSTER: "dev/cluster.json", WORM_CONFIG_DIR: config } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal(written(viaEnv.stdout), "Written", "the self-check wrote dev[0]");
  assert.equal(viaEnv.stderr, `worm: cluster ${ready.clusterId} (WORM_CLUSTER=${file}): acceptors ${(ready.addresses as string[]).map((a, k) => `${k + 1} ${a}`).join(", ")}; quorum 2; sequencers ${ready.sequencer}\n`);
  // Without -v nothing is said.
  const quiet = await runWorm(read, { cwd: dir, env: { WORM_CLUSTER: "dev/cluster.json", WORM_CONFIG_DIR: config } });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, "");
  // --cluster wins over WORM_CLUSTER (here naming nothing), and is relative to the caller's directory too.
  const flag = await runWorm([...read, "--cluster", "dev/cluster.json", "--verbose"], { cwd: dir, env: { WORM_CLUSTER: "/nonexistent/cluster.json", WORM_CONFIG_DIR: config } });
  assert.equal(flag.code, 0, flag.stderr);
  assert.match(flag.stderr, new RegExp(`^worm: cluster ${ready.clusterId} \\(--cluster dev/cluster.json\\)`));
  // A WORM_CLUSTER naming nothing says where the name came from.
  const missing = await runWorm(read, { cwd: dir, env: { WORM_CLUSTER: "nowhere.json", WORM_CONFIG_DIR: config } });
  assert.equal(missing.code, 2);
  assert.equal(oneLineError(missing), `worm: cluster file not found: ${join(dir, "nowhere.json")} (WORM_CLUSTER=${join(dir, "nowhere.json")})`);

  // `npm run worm` runs in the package's folder; a relative path is still the caller's.
  const npmEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`, WORM_CONFIG_DIR: config, WORM_CLUSTER: "" };
  const viaNpm = await exec("npm", ["--prefix", REPO, "run", "--silent", "worm", "--", ...read, "--cluster", "dev/cluster.json"], { cwd: dir, env: npmEnv, timeout: 60_000 });
  assert.equal(written(viaNpm.stdout), "Written");

  // Contexts: saved with a relative path (stored absolute), used from anywhere.
  const env = { WORM_CONFIG_DIR: config };
  const none = await runWorm(read, { cwd: elsewhere, env });
  assert.equal(none.code, 2);
  assert.match(oneLineError(none), /which cluster\? give --cluster FILE or --peers .*, set WORM_CLUSTER=FILE, or save one with 'worm context save NAME FILE'/);
  const save = await runWorm(["context", "save", "local", "dev/cluster.json"], { cwd: dir, env });
  assert.equal(save.code, 0, save.stderr);
  assert.match(save.stdout, new RegExp(`^saved context local: cluster ${ready.clusterId} \\(${file}\\)`));
  const badSave = await runWorm(["context", "save", "other", "no-such.json"], { cwd: dir, env });
  assert.equal(badSave.code, 2, "a context must name a cluster file that loads");
  const unknown = await runWorm(["context", "use", "nosuch"], { cwd: elsewhere, env });
  assert.equal(unknown.code, 2);
  assert.match(oneLineError(unknown), /no context named nosuch \(saved: local\)/);
  assert.equal((await runWorm(["context", "use", "local"], { cwd: elsewhere, env })).code, 0);
  const list = await runWorm(["context", "list", "--json"], { cwd: elsewhere, env });
  assert.deepEqual(JSON.parse(list.stdout), { configDir: config, current: "local", contexts: [{ name: "local", cluster: file, current: true }] });
  const viaContext = await runWorm([...read, "-v"], { cwd: elsewhere, env });
  assert.equal(viaContext.code, 0, viaContext.stderr);
  assert.equal(written(viaContext.stdout), "Written");
  assert.match(viaContext.stderr, new RegExp(`^worm: cluster ${ready.clusterId} \\(context local: ${file}\\)`));
  // Every client verb says which cluster it used with -v.
  for (const args of [["inspect", "--json"], ["log", "tail", "dev-log", "--json"], ["space", "list", "--json"], ["space", "create", "more"]]) {
    const f = await runWorm([...args, "-v"], { cwd: elsewhere, env });
    assert.match(f.stderr, new RegExp(`^worm: cluster ${ready.clusterId} \\(context local`), `${args.join(" ")} -v: ${f.stderr}`);
  }
  // WORM_CLUSTER beats the context.
  const envWins = await runWorm(read, { cwd: elsewhere, env: { ...env, WORM_CLUSTER: "nowhere.json" } });
  assert.equal(envWins.code, 2);
  assert.match(oneLineError(envWins), /cluster file not found: .*nowhere\.json \(WORM_CLUSTER=/);
  // Removed: commands name no cluster again.
  assert.equal((await runWorm(["context", "remove", "local"], { cwd: elsewhere, env })).code, 0);
  const gone = await runWorm(read, { cwd: elsewhere, env });
  assert.equal(gone.code, 2);
  assert.match(oneLineError(gone), /which cluster\?/);

  assert.equal((await dev.kill("SIGTERM")).code, 0);
});
