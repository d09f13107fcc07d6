/**
 * The copy of a reconfiguration (docs/ARCHITECTURE.md §3.5): the join of the fenced sources' state
 * (wor/core/state-copy.ts) installed on a joining acceptor, space by space and block by block: each
 * space's blocks holding state (admin `Blocks`), their addresses (`Inspect`), then the trim mark,
 * the addresses and the range promises as install requests over an installer session.
 */
import { ownerOfSystemSpace } from "../../paxos/limits.ts";
import type { RangePromise, Reply, Request } from "../../paxos/messages.ts";
import type { Configuration, Member } from "../core/configuration.ts";
import { installRequests, joinRanges, joinReports, rangesRequest } from "../core/state-copy.ts";
import { BLOCKS_MAX } from "../wire/codec-admin.ts";
import { AdminClient } from "./admin-client.ts";
import { WorError } from "./client.ts";
import { InstallerSession } from "./installer-session.ts";
import { type Reach, activate, fail } from "./reconfigure-steps.ts";

export interface CopyRequest extends Reach {
  /** The joining acceptor the state goes to. */
  readonly by: Member;
  readonly progress?: (line: string) => void;
  /** Addresses copied per second at most (default: as fast as it goes). The copy shares the
   *  acceptors with the clients: a lower rate leaves them more, and takes longer. */
  readonly copyRate?: number;
}

/** Wait, after each batch of `n` addresses, as long as the copy is ahead of `rate` addresses/s. */
function pacer(rate: number | undefined): (n: number) => Promise<void> {
  if (rate === undefined) return async () => {};
  const t0 = performance.now();
  let copied = 0;
  return async (n) => {
    copied += n;
    const ahead = (copied / rate) * 1000 - (performance.now() - t0);
    if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
  };
}

/** Addresses one inspection covers at most, and the gap between blocks it reads across. */
const READ_SPAN = 1_024;
const READ_GAP = 256;
/** Install requests (each within wor/core/state-copy.ts's limits) per envelope the installer sends. */
const REQUESTS_PER_ENVELOPE = 4;

/** Copy the join of `sources`' state into each of `joiners` in turn, and start it serving: the
 *  spaces and addresses copied. */
export async function copyAndActivate(next: Configuration, sources: readonly Member[], joiners: readonly Member[], r: Omit<CopyRequest, "by">): Promise<{ readonly spaces: number; readonly addresses: number }> {
  let spaces = 0;
  let addresses = 0;
  for (const m of joiners) {
    const copied = await copyTo(next, sources, { ...r, by: m });
    await activate(m, r);
    r.progress?.(`activated acceptor ${m.id}: it serves epoch ${next.epoch}`);
    spaces = copied.spaces;
    addresses += copied.addresses;
  }
  return { spaces, addresses };
}

/** Copy the join of `sources`' state into the new acceptor `r.by`, space by space. */
async function copyTo(next: Configuration, sources: readonly Member[], r: CopyRequest): Promise<{ readonly spaces: number; readonly addresses: number }> {
  const admins = sources.map((m) => new AdminClient(m.address, { ...r.security, deadlineMs: r.deadlineMs ?? 10_000 }));
  const installer = new InstallerSession(r.by.address, next.epoch, r.security, r.deadlineMs ?? 10_000);
  try {
    const found = await Promise.all(admins.map((a) => a.status()));
    const names = [...new Set(found.flatMap((s) => s.spaces.map((x) => x.name)))].sort();
    // User spaces first: creating one creates its system spaces.
    await install(installer, names.filter((n) => ownerOfSystemSpace(n) === undefined).map((space): Request => ({ kind: "createSpace", space })));
    let addresses = 0;
    const pace = pacer(r.copyRate);
    for (const space of names) addresses += await copySpace(space, admins, installer, r, pace);
    return { spaces: names.length, addresses };
  } finally {
    installer.close();
    for (const a of admins) a.close();
  }
}

async function copySpace(space: string, admins: readonly AdminClient[], installer: InstallerSession, r: CopyRequest, pace: (n: number) => Promise<void>): Promise<number> {
  /** Addresses with state, in runs of whole blocks: [from, to) per block of each source. */
  const runs: [number, number][] = [];
  let trimMark = 0;
  const ranges: (readonly RangePromise[])[] = [];
  for (const a of admins) {
    for (let from = 0; ; ) {
      const page = await a.blocks({ space, fromBlock: from, max: BLOCKS_MAX }).catch((e: unknown) => {
        if (e instanceof WorError && e.failure.code === "unknownSpace") return undefined;
        throw e;
      });
      if (!page) break;
      trimMark = Math.max(trimMark, page.trimMark);
      if (from === 0) ranges.push(page.ranges);
      for (const b of page.blocks) runs.push([b * page.blockSize, (b + 1) * page.blockSize]);
      if (page.blocks.length < BLOCKS_MAX) break;
      from = page.blocks[page.blocks.length - 1]! + 1;
    }
  }
  if (trimMark > 0) await install(installer, [{ kind: "trim", space, below: trimMark }]);
  // Read together: runs close to each other, up to READ_SPAN addresses (a sparse space is not read across its gaps).
  const spans: [number, number][] = [];
  for (const [from, to] of runs.filter(([, to]) => to > trimMark).sort((x, y) => x[0] - y[0])) {
    const last = spans[spans.length - 1];
    if (last && from <= last[1] + READ_GAP && to - last[0] <= READ_SPAN) last[1] = Math.max(last[1], to);
    else spans.push([Math.max(from, trimMark), to]);
  }
  let addresses = 0;
  for (const [from, to] of spans) {
    const reports = await Promise.all(admins.map((a) => inspectAll(a, space, from, to)));
    const joined = joinReports(reports);
    addresses += joined.length;
    await install(installer, installRequests(space, joined));
    await pace(joined.length);
  }
  await install(installer, [rangesRequest(space, joinRanges(ranges))]);
  r.progress?.(`copied ${space}: ${addresses} addresses${trimMark > 0 ? `, trimmed below ${trimMark}` : ""}`);
  return addresses;
}

/** Every address with state in [from, to), asking for less when a reply would be too large. */
async function inspectAll(a: AdminClient, space: string, from: number, to: number): Promise<ReturnType<typeof joinReports>> {
  try {
    return [...(await a.inspect({ space, from, to })).addresses];
  } catch (e) {
    if (e instanceof WorError && e.failure.code === "unknownSpace") return [];
    if (!(e instanceof WorError) || e.failure.code !== "tooLarge" || to - from <= 1) throw e;
    const mid = from + Math.floor((to - from) / 2);
    return [...(await inspectAll(a, space, from, mid)), ...(await inspectAll(a, space, mid, to))];
  }
}

/** Send `requests` to the new acceptor, a few per envelope; any refusal fails the copy. */
async function install(installer: InstallerSession, requests: readonly Request[]): Promise<void> {
  for (let k = 0; k < requests.length; k += REQUESTS_PER_ENVELOPE) {
    const replies = await installer.send(requests.slice(k, k + REQUESTS_PER_ENVELOPE));
    replies.forEach((reply, j) => {
      const problem = refusal(reply);
      if (problem) fail("invalid", `installing on ${installer.address} failed: ${problem} (request ${k + j})`);
    });
  }
}

/** What is wrong with a reply to an install request (or a space's creation), or undefined. */
function refusal(reply: Reply | Error): string | undefined {
  if (reply instanceof Error) return reply.message;
  if (reply.kind === "error") return `${reply.code}: ${reply.message}`;
  return reply.kind === "installed" || reply.kind === "spaceCreated" || reply.kind === "trimmed" ? undefined : `unexpected reply ${reply.kind}`;
}
