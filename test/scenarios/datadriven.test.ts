/**
 * The transcript format itself (./datadriven.ts): blocks, comments, doubled separators for
 * outputs with blank lines, rewriting in place, malformed files, and the diff.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { diffLines, parseScenario, rewriteScenario } from "./datadriven.ts";

const FILE = ["# a comment", "", "cmd a", "cmd b", "----", "out 1", "out 2", "", "# between", "other", "----", "", "last", "----", "x"].join("\n");

test("blocks: commands, expected outputs, comments skipped", () => {
  const blocks = parseScenario(FILE, "f.txt");
  assert.deepEqual(
    blocks.map((b) => ({ commands: b.commands.map((c) => `${c.line}:${c.text}`), expected: b.expected })),
    [
      { commands: ["3:cmd a", "4:cmd b"], expected: "out 1\nout 2" },
      { commands: ["10:other"], expected: "" },
      { commands: ["13:last"], expected: "x" },
    ],
  );
});

test("rewriting with the same outputs changes nothing; new outputs replace only the outputs", () => {
  const blocks = parseScenario(FILE, "f.txt");
  assert.equal(rewriteScenario(FILE, blocks, blocks.map((b) => b.expected)), FILE);
  const next = rewriteScenario(FILE, blocks, ["new", "now some", "x\n\ny"]);
  assert.equal(next, ["# a comment", "", "cmd a", "cmd b", "----", "new", "", "# between", "other", "----", "now some", "", "last", "----", "----", "x", "", "y", "----", "----"].join("\n"));
  assert.deepEqual(
    parseScenario(next, "f.txt").map((b) => b.expected),
    ["new", "now some", "x\n\ny"],
    "an output with a blank line survives the round trip between doubled separators",
  );
});

test("malformed files are refused with the file and line", () => {
  assert.throws(() => parseScenario("cmd\n\n----\n", "f.txt"), /f\.txt:2: a blank line inside a block/);
  assert.throws(() => parseScenario("----\nx\n", "f.txt"), /f\.txt:1: ---- without a command/);
  assert.throws(() => parseScenario("cmd\n", "f.txt"), /f\.txt:1: commands without ----/);
  assert.throws(() => parseScenario("cmd\n----\n----\nx\n", "f.txt"), /f\.txt:2: output opened with ---- ---- is never closed/);
});

test("the diff marks expected-only lines - and actual-only lines +", () => {
  assert.deepEqual(diffLines("a\nb\nc", "a\nB\nc"), ["  a", "- b", "+ B", "  c"]);
  assert.deepEqual(diffLines("", "x"), ["+ x"]);
});
