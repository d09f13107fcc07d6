/**
 * A misspelt or unknown flag gets a "did you mean" (apps/cli/did-you-mean.ts): the rule (edits,
 * swaps, prefixes, ties, nothing close), misspelt connection flags before the verb moved after it
 * (leading-flags.ts), and the real `worm`'s one line on stderr (run.ts) after the verb and before it.
 */
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { editDistance, suggestFlags } from "../../apps/cli/did-you-mean.ts";
import { hoistLeadingFlags } from "../../apps/cli/leading-flags.ts";
import { oneLineError, runWorm } from "../e2e/harness.ts";

const SPACE_LIST = ["--json", "--cluster", "--peers", "--token", "--tls-ca", "--tls-cert", "--tls-key", "--timeout", "--verbose", "-v", "--help", "-h", "--version"];

describe("suggestFlags", () => {
  it("counts insertions, deletions, replacements and swaps of neighbours as one edit each", () => {
    assert.equal(editDistance("cluster", "cluster"), 0);
    assert.equal(editDistance("clustr", "cluster"), 1);
    assert.equal(editDistance("clsuter", "cluster"), 1);
    assert.equal(editDistance("klaster", "cluster"), 2);
    assert.equal(editDistance("", "to"), 2);
  });

  it("suggests the flag within two edits", () => {
    assert.deepEqual(suggestFlags("--clustr", SPACE_LIST), ["--cluster"]);
    assert.deepEqual(suggestFlags("--clsuter", SPACE_LIST), ["--cluster"]);
    assert.deepEqual(suggestFlags("--jsn", SPACE_LIST), ["--json"]);
    assert.deepEqual(suggestFlags("--timout", SPACE_LIST), ["--timeout"]);
  });

  it("suggests the flags a prefix begins", () => {
    assert.deepEqual(suggestFlags("--clu", SPACE_LIST), ["--cluster"]);
    assert.deepEqual(suggestFlags("--time", SPACE_LIST), ["--timeout"]);
  });

  it("lists every flag as close as the closest, in their order", () => {
    assert.deepEqual(suggestFlags("--tls", SPACE_LIST), ["--tls-ca", "--tls-cert", "--tls-key"]);
    assert.deepEqual(suggestFlags("--tls-c", SPACE_LIST), ["--tls-ca", "--tls-cert"]);
    // One edit beats a prefix or two edits.
    assert.deepEqual(suggestFlags("--tls-cat", SPACE_LIST), ["--tls-ca"]);
  });

  it("suggests nothing when nothing is close", () => {
    assert.deepEqual(suggestFlags("--bogus", SPACE_LIST), []);
    assert.deepEqual(suggestFlags("--replicas", SPACE_LIST), []);
    // A one-letter flag is not a misspelt other one-letter flag.
    assert.deepEqual(suggestFlags("-x", SPACE_LIST), []);
    assert.deepEqual(suggestFlags("--x", SPACE_LIST), []);
    assert.deepEqual(suggestFlags("--clustr", []), []);
  });

  it("ignores case", () => {
    assert.deepEqual(suggestFlags("-V", SPACE_LIST), ["-v"]);
    assert.deepEqual(suggestFlags("--Cluster", SPACE_LIST), ["--cluster"]);
  });
});

describe("misspelt connection flags before the verb", () => {
  it("are moved after it, with a value when the flag meant takes one", () => {
    assert.deepEqual(hoistLeadingFlags(["--clustr", "f", "space", "list"]), ["space", "list", "--clustr", "f"]);
    assert.deepEqual(hoistLeadingFlags(["--clustr=f", "-v", "space", "list"]), ["space", "list", "--clustr=f", "-v"]);
    assert.deepEqual(hoistLeadingFlags(["--verbos", "space", "list"]), ["space", "list", "--verbos"]);
    // Its value missing: the verb is not taken for it.
    assert.deepEqual(hoistLeadingFlags(["--clustr", "space", "list"]), ["space", "list", "--clustr"]);
  });

  it("leave worm's own flags and unknown ones where they are", () => {
    for (const argv of [["--help"], ["--version"], ["-h", "space"], ["--completions", "bash"], ["--bogus", "f", "space", "list"]]) assert.deepEqual(hoistLeadingFlags(argv), argv);
  });
});

describe("worm says which flag was meant", { concurrency: 4 }, () => {
  const cases: { name: string; args: string[]; line: string }[] = [
    {
      name: "a prefix after the verb",
      args: ["space", "list", "--clu", "f"],
      line: `worm: unknown flag --clu for "worm space list"; did you mean --cluster? (see 'worm space list --help')`,
    },
    {
      name: "a prefix of several",
      args: ["space", "list", "--tls", "f"],
      line: `worm: unknown flag --tls for "worm space list"; did you mean --tls-ca or --tls-cert or --tls-key? (see 'worm space list --help')`,
    },
    { name: "nothing close", args: ["space", "list", "--x"], line: `worm: unknown flag --x for "worm space list" (see 'worm space list --help')` },
    {
      name: "a misspelt connection flag before the verb",
      args: ["--clustr", "f", "space", "list"],
      line: `worm: unknown flag --clustr for "worm space list"; did you mean --cluster? (see 'worm space list --help')`,
    },
    {
      name: "a connection flag the verb does not take",
      args: ["dev", "--cluster", "f"],
      line: `worm: unknown flag --cluster for "worm dev", which takes --data-dir, --acceptors, --base-port, --processes, --json (see 'worm dev --help')`,
    },
    {
      name: "a flag of the verb before it",
      args: ["--json", "space", "list"],
      line: `worm: --json is a flag of "worm space list": give it after "list" (only connection flags may come before the verb) (see 'worm space list --help')`,
    },
  ];
  for (const c of cases) {
    test(c.name, { timeout: 60_000 }, async () => {
      const f = await runWorm(c.args);
      assert.equal(f.code, 2, f.stderr);
      assert.equal(oneLineError(f), c.line);
      assert.equal(f.stdout, "");
    });
  }
});
