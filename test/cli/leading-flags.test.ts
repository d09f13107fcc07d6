/**
 * Connection flags before the verb (`worm --cluster F space list`, as etcdctl and kubectl allow) are
 * moved after it (apps/cli/leading-flags.ts): the pure rule, the names kept in step with what the
 * client commands accept, and the real `worm` honouring them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LEADING_FLAGS, hoistLeadingFlags } from "../../apps/cli/leading-flags.ts";
import { runWorm } from "../e2e/harness.ts";

describe("connection flags before the verb", () => {
  it("are moved after the command, values and all; everything else stays", () => {
    assert.deepEqual(hoistLeadingFlags(["--cluster", "c.json", "-v", "space", "list", "--json"]), ["space", "list", "--json", "--cluster", "c.json", "-v"]);
    assert.deepEqual(hoistLeadingFlags(["--peers=a:1,b:2", "--timeout", "200", "wor", "read", "s", "0"]), ["wor", "read", "s", "0", "--peers=a:1,b:2", "--timeout", "200"]);
    assert.deepEqual(hoistLeadingFlags(["space", "list", "--cluster", "c.json"]), ["space", "list", "--cluster", "c.json"]);
    // Not connection flags, or a value missing: left where they are (the command tree says why).
    assert.deepEqual(hoistLeadingFlags(["--help"]), ["--help"]);
    assert.deepEqual(hoistLeadingFlags(["--json", "--cluster", "c.json", "space", "list"]), ["--json", "--cluster", "c.json", "space", "list"]);
    assert.deepEqual(hoistLeadingFlags(["--cluster"]), ["--cluster"]);
  });

  it("are flags every client command takes", { timeout: 60_000 }, async () => {
    const help = await runWorm(["space", "list", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of LEADING_FLAGS) assert.match(help.stdout, new RegExp(`${flag}[ ,]`), `worm space list takes ${flag}`);
  });

  it("reach the command: worm --peers A -v space list uses A and says so", { timeout: 60_000 }, async () => {
    const f = await runWorm(["--peers", "127.0.0.1:1", "-v", "--timeout", "300", "space", "list"]);
    assert.equal(f.code, 1, f.stderr);
    assert.match(f.stderr, /acceptors 127\.0\.0\.1:1/);
    assert.match(f.stderr, /no acceptor answered: 127\.0\.0\.1:1/);
    assert.doesNotMatch(f.stderr, /unknown flag/);
  });
});
