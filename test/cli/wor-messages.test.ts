/**
 * `worm wor` messages in the user's nouns (issue 9 item 11): an address past the highest one is
 * blamed on the address (not on a --to nobody gave); a refused owner-ballot write says whether the
 * address holds another owner value or is captured by someone; ballots print as round:proposer.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { WorClient } from "../../wor/node/client.ts";
import { grpcTransport } from "../../wor/node/grpc-link.ts";
import type { Transport } from "../../wor/node/link.ts";
import { Procs, addressesOf, oneLineError, runWorm, startCluster, tempDir, text } from "../e2e/harness.ts";

test("an address past the highest one names the address, not --to", { timeout: 60_000 }, async () => {
  const f = await runWorm(["wor", "read", "demo", "9007199254740991", "--peers", "127.0.0.1:1"]);
  assert.equal(f.code, 2, f.stderr);
  const line = oneLineError(f);
  assert.match(line, /address 9007199254740991 is above the highest address 9007199254740990/);
  assert.doesNotMatch(line, /--to/);
  const to = await runWorm(["wor", "read", "demo", "5", "--to", "3", "--peers", "127.0.0.1:1"]);
  assert.equal(to.code, 2, to.stderr);
  assert.match(oneLineError(to), /--to 3 must be above the address 5/);
});

/** A transport that never sends commit notices: an owner write lands, but no acceptor learns it is chosen. */
function withoutCommits(inner: Transport): Transport {
  return {
    connect(acceptor, events) {
      const link = inner.connect(acceptor, events);
      return {
        send: (frames) => link.send(frames.filter((f) => !(f.kind === "request" && f.request.kind === "commit"))),
        close: () => link.close(),
      };
    },
  };
}

test("refused owner-ballot writes say what the address holds; ballots print as round:proposer", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "msgs");
  const file = join(dir, "cluster.json");
  await writeFile(file, JSON.stringify({ clusterId: "msgs", segmentSize: 64, acceptors: nodes.map((n) => ({ id: n.id, address: `127.0.0.1:${n.port}` })) }));
  const worm = (...args: string[]) => runWorm([...args, "--cluster", file]);
  assert.equal((await worm("space", "create", "demo")).code, 0);

  // An owner value accepted everywhere whose commit never arrived: a second owner value is refused.
  const owner = new WorClient({ transport: withoutCommits(grpcTransport({ addresses: addressesOf(nodes) })), acceptors: 3, segmentSize: 64 });
  t.after(() => owner.close());
  assert.equal((await owner.unsafeWrite("demo", 5, text("first")))._tag, "Ok");
  const second = await worm("wor", "unsafe-write", "demo", "5", "--value", "second");
  assert.equal(second.code, 3, second.stderr);
  const secondLine = oneLineError(second);
  assert.match(secondLine, /not written: demo\[5\] already holds another value written at the owner ballot \(see it with 'worm wor read demo 5'\)/);
  assert.doesNotMatch(secondLine, /promised to ballot/);

  // A captured address: an owner-ballot write is refused, naming the capture's ballot as round:proposer.
  const cap = await worm("wor", "capture", "demo", "6");
  assert.equal(cap.code, 0, cap.stderr);
  const ballot = /at ballot (\S+) /.exec(cap.stdout)?.[1] ?? "";
  assert.match(ballot, /^\d+:\d+$/, `ballot printed as ${ballot}`);
  const captured = await worm("wor", "unsafe-write", "demo", "6", "--value", "x");
  assert.equal(captured.code, 3, captured.stderr);
  assert.equal(oneLineError(captured), `worm: not written: demo[6] is captured by someone else (ballot ${ballot}): an owner-ballot write lands only where nobody captured or wrote`);
});
