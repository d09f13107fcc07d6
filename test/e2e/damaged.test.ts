/**
 * A damaged data directory is refused, never served (issue 8, item 2): `worm node` and `worm dev`
 * exit 2 with one line that says what was found and that the acceptor must not rejoin under its old
 * id. And no false positive: an acceptor killed with SIGKILL in the middle of a write load, or
 * stopped cleanly, starts again on its directory and still holds every acknowledged write.
 */
import assert from "node:assert/strict";
import { cp, open, readdir, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { type WorClient, WorError } from "../../wor/node/client.ts";
import { type NodeHandle, Procs, client, oneLineError, restartNode, runWorm, startNode, tempDir, text } from "./harness.ts";

const CLUSTER = "damaged";
const SEGMENT = 64;
const READ_CHUNK = 256;

/** Writes to one acceptor; remembers every write acknowledged Ok. */
class Load {
  readonly acked = new Map<number, Uint8Array>();
  private next = 0;
  constructor(private readonly c: WorClient) {}

  /** Write `segments` segments, two values per round trip; stops quietly at the first failure when `untilFailure`. */
  async write(segments: number, untilFailure = false): Promise<void> {
    for (let k = 0; k < segments; k++) {
      const from = this.next;
      this.next += SEGMENT;
      try {
        const cap = await this.c.captureRange("d", from, from + SEGMENT);
        assert.equal(cap._tag, "Captured");
        if (cap._tag !== "Captured") return;
        for (let i = from; i < from + SEGMENT; i += 2) {
          const batch = [i, i + 1].map((index) => ({ index, value: text(`v${index}`) }));
          const results = await this.c.writeMany(cap.capture, batch);
          for (const e of batch) if (results.get(e.index)?._tag === "Ok") this.acked.set(e.index, e.value);
        }
      } catch (e) {
        if (untilFailure && e instanceof WorError) return;
        throw e;
      }
    }
  }

  /** Every acknowledged write reads back identically through a fresh client. */
  async check(t: TestContext, port: number): Promise<void> {
    const reader = client(t, [`127.0.0.1:${port}`], { cache: false, proposerId: 99 });
    const top = Math.max(...this.acked.keys()) + 1;
    for (let from = 0; from < top; from += READ_CHUNK) {
      const got = await reader.readRange("d", from, Math.min(top, from + READ_CHUNK));
      for (const [i, v] of this.acked) {
        if (i < from || i >= from + READ_CHUNK) continue;
        const r = got.get(i)!;
        assert.ok(r._tag === "Written" && bytesEqual(r.value, v), `acknowledged address ${i} reads ${r._tag}`);
      }
    }
  }
}

async function logOf(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((f) => f.endsWith(".log"));
  assert.equal(logs.length, 1, `one LevelDB log in ${dir}: ${logs}`);
  return join(dir, logs[0]!);
}

/** `worm node` on `dataDir` refuses to start: exit 2, one line matching `why`, never listening. */
async function assertRefused(dataDir: string, why: RegExp, init = false): Promise<void> {
  const args = ["node", "--id", "1", "--cluster-id", CLUSTER, "--listen", "127.0.0.1:0", "--data-dir", dataDir];
  const f = await runWorm(init ? [...args, "--init"] : args, { deadlineMs: 60_000 });
  assert.equal(f.code, 2, `a damaged directory must be refused; stderr: ${f.stderr}`);
  const line = oneLineError(f);
  assert.match(line, new RegExp(`^worm: refusing to start acceptor 1 of cluster ${CLUSTER} on ${dataDir}: the data directory is damaged: `));
  assert.match(line, why);
  assert.match(line, /must not rejoin under its old id/);
  assert.equal(f.stdout, "", "it never reported listening");
}

test("worm node refuses a damaged directory; SIGKILL mid-load and a clean restart are not refused", { timeout: 150_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const dataDir = join(dir, "a1");
  const node: NodeHandle = await startNode(procs, { id: 1, dataDir, clusterId: CLUSTER });
  const writer = client(t, [`127.0.0.1:${node.port}`], { proposerId: 5, roundTimeoutMs: 2_000 });
  await writer.createSpace("d");
  const load = new Load(writer);
  await load.write(2);

  // A clean stop; keep this copy as "an older copy" of the store.
  assert.equal((await node.proc.kill("SIGTERM")).code, 0);
  const older = join(dir, "older");
  await cp(dataDir, older, { recursive: true });

  // A clean restart is not refused. SIGKILL in the middle of the write load, and that restart is not refused either.
  await restartNode(procs, node, CLUSTER);
  const writing = load.write(1_000, true);
  await sleep(500);
  const killed = await node.proc.kill("SIGKILL");
  assert.equal(killed.signal, "SIGKILL");
  await writing;
  await restartNode(procs, node, CLUSTER);
  await load.check(t, node.port);
  await load.write(4);
  assert.equal((await node.proc.kill("SIGTERM")).code, 0);
  assert.ok(load.acked.size > 300, `only ${load.acked.size} writes acknowledged`);

  // Copies of the stopped acceptor's directory, each damaged one way.
  const copy = async (name: string) => {
    const to = join(dir, name);
    await cp(dataDir, to, { recursive: true });
    return to;
  };
  const [halved, flipped, restored] = await Promise.all([copy("halved"), copy("flipped"), copy("restored")]);
  const halvedLog = await logOf(halved);
  await truncate(halvedLog, Math.floor((await stat(halvedLog)).size / 2));
  const flippedLog = await logOf(flipped);
  const f = await open(flippedLog, "r+");
  await f.write(new Uint8Array(64).fill(0xa5), 0, 64, Math.floor((await stat(flippedLog)).size / 2));
  await f.close();
  for (const name of await readdir(restored)) if (name !== "WITNESS") await rm(join(restored, name), { recursive: true });
  for (const name of await readdir(older)) if (name !== "WITNESS") await cp(join(older, name), join(restored, name), { recursive: true });

  await Promise.all([
    assertRefused(halved, /batch \d+ was acknowledged but the store ends at batch \d+\./),
    // LevelDB drops the damaged record and the rest of its 32 KB block: a gap, or the end of the log.
    assertRefused(flipped, /batch \d+ (is missing: the store holds batch \d+ and later batches up to|was acknowledged but the store ends at batch) \d+\./),
    assertRefused(restored, /batch \d+ was acknowledged but the store ends at batch \d+\./, true),
  ]);

  // The undamaged directory still starts and serves everything acknowledged.
  await restartNode(procs, node, CLUSTER);
  await load.check(t, node.port);
});

test("worm dev refuses a damaged acceptor directory with one line, exit 2", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dataDir = join(await tempDir(t), "dev");
  const dev = procs.start(["dev", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  await dev.waitForJson((l) => l.event === "ready", 30_000);
  assert.equal((await dev.kill("SIGTERM")).code, 0);
  // Its log is one 32 KB block: LevelDB drops everything from the flipped bytes on, acknowledged batches included.
  const log = await logOf(join(dataDir, "acceptor-2"));
  const f = await open(log, "r+");
  await f.write(new Uint8Array(64).fill(0xa5), 0, 64, Math.floor((await stat(log)).size / 2));
  await f.close();
  const again = await runWorm(["dev", "--data-dir", dataDir, "--base-port", "0", "--json"], { deadlineMs: 30_000 });
  assert.equal(again.code, 2, again.stderr);
  assert.match(
    oneLineError(again),
    /^worm: refusing to start acceptor 2 of cluster dev-\w+ on .*acceptor-2: the data directory is damaged: batch \d+ was acknowledged but the store (ends at batch \d+|is empty)\. .*must not rejoin under its old id/,
  );
});
