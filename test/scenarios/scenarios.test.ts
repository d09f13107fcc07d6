/**
 * Runs every transcript in this folder (README.md): each block's output must equal the expected
 * one. `WORM_SCENARIO_REWRITE=1` writes the actual outputs into the files instead (then read the
 * diff carefully before committing it). Each file runs twice: the transcript must be deterministic.
 * An invariant violation (a `VIOLATION` line) fails the file unless it says `# known-bug:`.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type PlantedBug, plantBugForTest } from "../../verify/runtime/planted.ts";
import { diffLines, rewriteScenario } from "./datadriven.ts";
import { runScenario } from "./interpreter.ts";

const DIR = fileURLToPath(new URL("./", import.meta.url));
const REWRITE = process.env.WORM_SCENARIO_REWRITE === "1";

/** Differing blocks reported in full per file (the rest are counted). */
const DIFFS_SHOWN_MAX = 3;

const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".txt"))
  .sort();

test("the scenario folder holds transcripts", () => {
  assert.ok(files.length > 0);
});

for (const file of files) {
  test(`scenario ${file}`, { timeout: 60_000 }, () => {
    const path = join(DIR, file);
    const text = readFileSync(path, "utf8");
    const { blocks, outputs } = runScenario(text, file);
    assert.deepEqual(runScenario(text, file).outputs, outputs, `${file}: a second run printed something else: the interpreter is not deterministic`);
    if (REWRITE) {
      const next = rewriteScenario(text, blocks, outputs);
      if (next !== text) writeFileSync(path, next);
    } else {
      const differ = blocks.map((b, k) => ({ b, actual: outputs[k]! })).filter(({ b, actual }) => b.expected !== actual);
      const report = differ.slice(0, DIFFS_SHOWN_MAX).map(({ b, actual }) => {
        const cmd = b.commands.map((c) => c.text).join("; ");
        return `${file}:${b.commands[0]!.line}: the output of \`${cmd}\` differs (- expected, + actual):\n${diffLines(b.expected, actual).join("\n")}`;
      });
      if (differ.length > DIFFS_SHOWN_MAX) report.push(`… and ${differ.length - DIFFS_SHOWN_MAX} more blocks differ`);
      if (differ.length > 0) assert.fail(`${report.join("\n\n")}\n\n(WORM_SCENARIO_REWRITE=1 writes the actual outputs into ${file})`);
    }
    if (!/^# known-bug:/m.test(text)) {
      const violations = outputs.flatMap((o) => o.split("\n")).filter((l) => l.startsWith("VIOLATION"));
      assert.deepEqual(violations, [], `${file}: invariant violations`);
    }
  });
}

/** Planted protocol bugs (verify/runtime/planted.ts) and a transcript each one changes. */
const CATCHES: readonly [PlantedBug, string][] = [
  ["acceptBelowPromise", "two-proposers.txt"],
  ["ignoreAdoptedValue", "adopt-partial-write.txt"],
  ["readWithoutQuorum", "preempted-write-recover.txt"],
  ["waitOutRejection", "minority-mixed-promises.txt"],
  ["replyBeforePersist", "crash-durability.txt"],
];

for (const [bug, file] of CATCHES) {
  test(`the planted bug ${bug} changes ${file}`, { skip: REWRITE, timeout: 60_000 }, () => {
    const text = readFileSync(join(DIR, file), "utf8");
    const { blocks, outputs } = plantBugForTest(bug, () => runScenario(text, file));
    const first = blocks.findIndex((b, k) => b.expected !== outputs[k]);
    assert.ok(first >= 0, `${file} reads the same with ${bug} planted`);
    console.log(`# ${bug}: ${file}:${blocks[first]!.commands[0]!.line} differs first${outputs.some((o) => o.includes("VIOLATION")) ? " (and the ghost reports a violation)" : ""}`);
  });
}
