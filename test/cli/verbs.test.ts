/**
 * Verbs users expect: `worm space list`; `worm wor write` from a file or standard input (`--value-file
 * F`, `--value -`, `--value-file -`); `--help` showing defaults; `worm inspect` saying when it left
 * segments or addresses out.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { LIMITS } from "../../paxos/limits.ts";
import { type Finished, Procs, REPO, oneLineError, runWorm, tempDir } from "../e2e/harness.ts";

const ok = (f: Finished, what: string): Finished => {
  assert.equal(f.code, 0, `${what}: ${f.stderr}`);
  return f;
};

test("space list, values from files and stdin, inspect's truncation notes", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-verbs-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];
  const worm = (args: string[], input?: string) => runWorm([...args, ...conn], input === undefined ? {} : { input });
  const readValue = async (address: number) => {
    const f = ok(await worm(["wor", "read", "regs", String(address), "--json"]), `read regs[${address}]`);
    return (JSON.parse(f.stdout) as { results: { value?: { hex: string; text?: string } }[] }).results[0]!.value;
  };

  ok(await worm(["space", "create", "regs", "--segment-size", "4"]), "create regs");
  ok(await worm(["log", "create", "events", "--segment-size", "8"]), "create events");

  // Values: a file's bytes, standard input's bytes as they are (`--value -`, `--value-file -`).
  const file = join(dir, "value.bin");
  await writeFile(file, Uint8Array.of(0x00, 0xff, 0x0a));
  ok(await worm(["wor", "write", "regs", "9", "--value-file", file]), "--value-file");
  assert.deepEqual(await readValue(9), { hex: "00ff0a", bytes: 3 });
  ok(await worm(["wor", "write", "regs", "10", "--value", "-"], "from stdin\n"), "--value -");
  assert.equal((await readValue(10))?.text, "from stdin\n");
  ok(await worm(["wor", "write", "regs", "11", "--value-file", "-"], "also stdin"), "--value-file -");
  assert.equal((await readValue(11))?.text, "also stdin");
  const twice = await worm(["wor", "write", "regs", "12", "--value", "a", "--value-file", file]);
  assert.equal(twice.code, 2);
  assert.match(oneLineError(twice), /give the value once: --value, --value-file are 2 ways/);
  const big = await worm(["wor", "write", "regs", "12", "--value", "-"], "x".repeat(LIMITS.valueBytesMax + 1));
  assert.equal(big.code, 2);
  assert.match(oneLineError(big), new RegExp(`--value -: standard input holds more than ${LIMITS.valueBytesMax} bytes`));
  const missing = await worm(["wor", "write", "regs", "12", "--value-file", join(dir, "nope")]);
  assert.equal(missing.code, 2);
  assert.match(oneLineError(missing), /--value-file: cannot read .*nope/);
  assert.equal(await readValue(12), undefined, "nothing was written by the refused commands");

  // space list: kind, segment size, segments in use (from the trim mark's), trim mark.
  ok(await worm(["wor", "trim", "regs", "4"]), "trim regs");
  const list = ok(await worm(["space", "list", "--json"]), "space list");
  assert.deepEqual(JSON.parse(list.stdout), {
    spaces: [
      { name: "dev", kind: "registers", segmentSize: 4096, group: "main", segments: { first: 0, last: 0, count: 1 }, trimMark: 0 },
      { name: "events", kind: "log", segmentSize: 8, group: "main", segments: { first: 0, last: -1, count: 0 }, trimMark: 0 },
      { name: "regs", kind: "registers", segmentSize: 4, group: "main", segments: { first: 1, last: 2, count: 2 }, trimMark: 4 },
    ],
  });
  const text = ok(await worm(["space", "list"]), "space list (text)");
  assert.match(text.stdout, /^NAME +KIND +SEGMENT SIZE +SEGMENTS +TRIM\n/);
  assert.match(text.stdout, /\nregs +registers +4 +2 \(1\.\.2\) +4\n/);

  // inspect says when it left segments or addresses out.
  ok(await worm(["wor", "write", "regs", "2000", "--value", "far"]), "write regs[2000]");
  const inspect = ok(await worm(["inspect", "--space", "regs", "--json"]), "inspect --json");
  const doc = JSON.parse(inspect.stdout) as { truncated: unknown; segments: { space: string }[] };
  assert.deepEqual(doc.truncated, { segments: [{ space: "regs", first: 1, last: 500, shown: 256 }], addresses: { shown: [4, 36], highestAccepted: 2000 } });
  assert.equal(doc.segments.filter((s) => s.space === "regs").length, 256);
  const inspectText = ok(await worm(["inspect", "--space", "regs"]), "inspect");
  assert.match(inspectText.stdout, /\(truncated: regs uses segments 1\.\.500; only the first 256 were read\)/);
  assert.match(inspectText.stdout, /\(truncated: showing 32 addresses from 4; values are accepted up to regs\[2000\]: give --from and --to to see more\)/);
  const whole = ok(await worm(["inspect", "--space", "regs", "--from", "9", "--to", "13", "--json"]), "inspect --from --to");
  assert.deepEqual((JSON.parse(whole.stdout) as { truncated: unknown }).truncated, { segments: [{ space: "regs", first: 1, last: 500, shown: 256 }] });

  assert.equal((await dev.kill("SIGTERM")).code, 0);
});

test("--help shows each flag's default", { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp[]][] = [
    [["wor", "read", "--help"], [/--timeout integer +milliseconds .* \(default: 3000\)/]],
    [["dev", "--help"], [/\(default: \.data\/dev\)/, /\(default: 3\)/, /\(default: 7100\)/]],
    [["check", "mc", "--help"], [/--model string .*\(default: wor\)/, /--config string +for wor one of .* \(default full\); for txn one of .* \(default small\)/]],
    [["log", "subscribe", "--help"], [/--from integer +first slot \(default: 0\)/]],
  ];
  for (const [args, patterns] of cases) {
    const f = await runWorm(args);
    assert.equal(f.code, 0, f.stderr);
    for (const p of patterns) assert.match(f.stdout, p, `worm ${args.join(" ")}`);
  }
  // A default that --help would not show: every non-boolean default goes through withDefaultShown.
  const cli = join(REPO, "apps", "cli");
  const hidden = readdirSync(cli)
    .filter((f) => f.endsWith(".ts"))
    .flatMap((f) => [...readFileSync(join(cli, f), "utf8").matchAll(/Flag\.withDefault\((?!false\))([^)]*)\)/g)].map((m) => `${f}: Flag.withDefault(${m[1]})`))
    .filter((s) => !s.startsWith("flags.ts:"));
  assert.deepEqual(hidden, []);
});
