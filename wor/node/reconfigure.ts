/**
 * Replacing an acceptor (docs/ARCHITECTURE.md §3.5), online: the cluster keeps serving throughout.
 *
 * 1. **Find** the newest configuration: every acceptor reports the one it holds; follow the newest.
 * 2. **Choose** configuration e+1 (the retired id's slot taken by the replacement) in register e of
 *    the chain space, under configuration e: write-once, so two operators cannot fork the chain. A
 *    run that finds e+1 already chosen as this same replacement resumes it.
 * 3. **Fence**: tell e+1 to every acceptor of e and e+1. Each adopts it durably, in its turn among
 *    the frames, and from then on refuses sessions of older epochs (clients follow e+1 from the
 *    refusal). A quorum of e must adopt it: then no quorum of e can form again.
 * 4. **Copy** to the replacement (started with `worm node --join`: it serves only its installer) the
 *    join of the survivors' state (wor/core/state-copy.ts), space by space and block by block, as
 *    install requests. Meanwhile clients run under e+1 on the survivors, which make a quorum.
 * 5. **Activate** the replacement: it serves everyone.
 *
 * Each step is idempotent: a run cut short is finished by running it again.
 */
import { ownerOfSystemSpace } from "../../paxos/limits.ts";
import type { RangePromise, Reply, Request } from "../../paxos/messages.ts";
import { CONFIGURATION_SPACE, type Configuration, type Member, chooseConfiguration, copySourcesNeeded, decodeConfiguration, describeConfiguration, replaced } from "../core/configuration.ts";
import { installRequests, joinRanges, joinReports, rangesRequest } from "../core/state-copy.ts";
import type { AcceptorStatus } from "../wire/admin.ts";
import { BLOCKS_MAX } from "../wire/codec-admin.ts";
import { AdminClient } from "./admin-client.ts";
import { WorClient, WorError } from "./client.ts";
import type { ClientSecurity } from "./credentials.ts";
import { drive } from "./driver.ts";
import { grpcTransport } from "./grpc-link.ts";
import { InstallerSession } from "./installer-session.ts";

export interface ReplaceRequest {
  /** The configuration to start from: the cluster file's (epoch 0) or any later one. */
  readonly start: Configuration;
  readonly security: ClientSecurity;
  /** The id that leaves, and the new acceptor that takes its slot (running `worm node --join`). */
  readonly retired: number;
  readonly by: Member;
  readonly segmentSize: number;
  readonly deadlineMs?: number;
  readonly progress?: (line: string) => void;
}

export interface Replaced {
  readonly configuration: Configuration;
  /** Acceptors that adopted it (ids). */
  readonly fenced: readonly number[];
  readonly spaces: number;
  readonly addresses: number;
  readonly ms: number;
}

const fail = (code: "invalid" | "unavailable" | "contended", message: string): never => {
  throw new WorError({ code, message });
};

/** Addresses one inspection covers at most, and the gap between blocks it reads across. */
const READ_SPAN = 1_024;
const READ_GAP = 256;
/** Install requests (each within wor/core/state-copy.ts's limits) per envelope the installer sends. */
const REQUESTS_PER_ENVELOPE = 4;

type Reach = Pick<ReplaceRequest, "security" | "deadlineMs">;

/** `f` over an admin client of the acceptor at `address`, closed after (deadline: `r.deadlineMs`, else `ms`). */
async function withAdmin<T>(address: string, r: Reach, ms: number, f: (admin: AdminClient) => Promise<T>): Promise<T> {
  const admin = new AdminClient(address, { ...r.security, deadlineMs: r.deadlineMs ?? ms });
  try {
    return await f(admin);
  } finally {
    admin.close();
  }
}

/** Every acceptor's status, by id (an Error for one that did not answer). */
async function statuses(members: readonly Member[], r: Reach): Promise<Map<number, AcceptorStatus | Error>> {
  const out = new Map<number, AcceptorStatus | Error>();
  await Promise.all(members.map(async (m) => out.set(m.id, await withAdmin(m.address, r, 3_000, (a) => a.status()).catch((e: Error) => e))));
  return out;
}

/** The newest configuration any of `found` reports holding, if newer than `c`. */
function newestReported(found: ReadonlyMap<number, AcceptorStatus | Error>, c: Configuration): Configuration | undefined {
  const newer = [...found.values()].flatMap((s) => (s instanceof Error || !s.configuration || s.configuration.epoch <= c.epoch ? [] : [s.configuration]));
  return newer.length === 0 ? undefined : newer.reduce((a, b) => (b.epoch > a.epoch ? b : a));
}

/** Start a joining replacement serving everyone. */
const activate = (m: Member, r: Reach): Promise<boolean> => withAdmin(m.address, r, 10_000, (a) => a.activate());

/** A client of configuration `c`. */
const clientOf = (c: Configuration, r: Pick<ReplaceRequest, "security" | "segmentSize">): WorClient =>
  new WorClient({
    transport: grpcTransport({ ...r.security, addresses: c.acceptors.map((m) => m.address), epoch: c.epoch }),
    acceptors: c.acceptors.length,
    quorum: c.quorum,
    segmentSize: r.segmentSize,
  });

/** Configuration c.epoch+1 if the chain holds it (chosen in register c.epoch). */
async function chained(c: Configuration, r: Pick<ReplaceRequest, "security" | "segmentSize">): Promise<Configuration | undefined> {
  const client = clientOf(c, r);
  try {
    const got = await client.read(CONFIGURATION_SPACE, c.epoch, { recover: true });
    if (got._tag !== "Written") return undefined;
    const next = decodeConfiguration(got.value);
    return next.ok ? next.value : fail("invalid", `register ${c.epoch} of ${CONFIGURATION_SPACE} holds no configuration: ${next.error}`);
  } catch (e) {
    if (e instanceof WorError && e.failure.code === "unknownSpace") return undefined;
    throw e;
  } finally {
    client.close();
  }
}

/**
 * The newest configuration: from `start`, follow what the acceptors report holding and what the
 * chain holds (a configuration chosen but not yet told to anyone counts: it can only be finished).
 */
export async function newestConfiguration(start: Configuration, r: Pick<ReplaceRequest, "security" | "segmentSize" | "deadlineMs">): Promise<{ readonly configuration: Configuration; readonly statuses: Map<number, AcceptorStatus | Error> }> {
  let c = start;
  for (;;) {
    const found = await statuses(c.acceptors, r);
    const newer = newestReported(found, c);
    if (newer) {
      c = newer;
      continue;
    }
    const next = await chained(c, r);
    if (!next) return { configuration: c, statuses: found };
    c = next;
  }
}

/** Refuse a replacement that is not running as a joining acceptor with its id (before anything is
 *  chosen); whether it is still joining (false: a run before finished it). */
async function preflight(by: Member, epoch: number, r: Reach): Promise<boolean> {
  const s = await withAdmin(by.address, r, 3_000, (a) => a.status()).catch((e: Error) =>
    fail("unavailable", `the replacement at ${by.address} does not answer (${e.message}); start it first: \`worm node --id ${by.id} --join --listen ${by.address} --data-dir DIR\``),
  );
  if (s.acceptorId !== by.id) fail("invalid", `the acceptor at ${by.address} is acceptor ${s.acceptorId}, not ${by.id}`);
  const resuming = s.configuration?.epoch === epoch;
  if (!s.joining && !resuming) return fail("invalid", `acceptor ${by.id} at ${by.address} is not a replacement waiting to join (it ${s.configuration ? `holds epoch ${s.configuration.epoch}` : "serves already"}): start a new one with \`worm node --join\` on an empty data directory`);
  return s.joining;
}

/** Choose `next` in register next.epoch-1 of the chain under `current`; resolves once it is chosen there. */
async function choose(current: Configuration, next: Configuration, r: Pick<ReplaceRequest, "security" | "segmentSize">): Promise<void> {
  const client = clientOf(current, r);
  try {
    const created = await client.createSpace(CONFIGURATION_SPACE, { kind: "configurations" });
    if (created._tag === "Exists" && created.meta.kind !== "configurations") fail("invalid", `space ${CONFIGURATION_SPACE} exists as ${created.meta.kind}: it is reserved for the configuration chain`);
    const r = await drive(chooseConfiguration(next), client);
    if (r.kind === "failed") throw new WorError(r.failure);
    if (r.kind === "unsettled") fail("contended", `choosing epoch ${next.epoch}: ${r.why}; run the command again`);
    if (r.kind === "other") {
      const other = decodeConfiguration(r.value);
      fail("invalid", `epoch ${next.epoch} was already chosen as ${other.ok ? describeConfiguration(other.value) : "something else"} by another reconfiguration; see \`worm cluster show\``);
    }
  } finally {
    client.close();
  }
}

/** Tell `next` to every acceptor of `members`; the ids that adopted it (or held it). */
async function fence(members: readonly Member[], next: Configuration, r: Reach): Promise<{ readonly fenced: number[]; readonly refused: Map<number, string> }> {
  const fenced: number[] = [];
  const refused = new Map<number, string>();
  await Promise.all(
    members.map((m) =>
      withAdmin(m.address, r, 10_000, (a) => a.reconfigure(next)).then(
        () => fenced.push(m.id),
        (e: Error) => refused.set(m.id, e.message),
      ),
    ),
  );
  return { fenced: fenced.sort((a, b) => a - b), refused };
}

/** Replace acceptor `r.retired` by `r.by`, online; resumes a replacement cut short. */
export async function replaceAcceptor(r: ReplaceRequest): Promise<Replaced> {
  const t0 = performance.now();
  const say = r.progress ?? (() => {});
  const { configuration: found } = await newestConfiguration(r.start, r);
  // Resumed: the newest configuration is this very replacement (chosen, maybe not finished).
  const resumed = found.acceptors.some((m) => m.id === r.by.id && m.address === r.by.address) && !found.acceptors.some((m) => m.id === r.retired);
  let next = found;
  if (!resumed) {
    const n = replaced(found, r.retired, r.by);
    if (!n.ok) return fail("invalid", n.error);
    next = n.value;
  }
  const joining = await preflight(r.by, next.epoch, r);
  if (!resumed) await choose(found, next, r);
  say(`${resumed ? "resuming" : "chose"} ${describeConfiguration(next)}`);
  const survivors = next.acceptors.filter((m) => m.id !== r.by.id);
  const told = await fence(resumed ? next.acceptors : [...found.acceptors, r.by], next, r);
  const fencedSurvivors = survivors.filter((m) => told.fenced.includes(m.id));
  const why = (ids: readonly number[]) => ids.map((id) => `acceptor ${id}: ${told.refused.get(id) ?? "?"}`).join("; ");
  if (!told.fenced.includes(r.by.id)) fail("unavailable", `the replacement ${r.by.id} at ${r.by.address} did not take epoch ${next.epoch} (${why([r.by.id])}); start it with \`worm node --join\` and run this again`);
  if (fencedSurvivors.length < copySourcesNeeded(next)) {
    const missing = survivors.filter((m) => !told.fenced.includes(m.id)).map((m) => m.id);
    fail("unavailable", `epoch ${next.epoch} reached ${fencedSurvivors.length} of the ${survivors.length} acceptors that stay, and the copy needs ${copySourcesNeeded(next)} of them (${why(missing)}); run this again once they are up`);
  }
  say(`fenced: acceptors ${told.fenced.join(", ")} hold epoch ${next.epoch}`);
  if (!joining) {
    say(`acceptor ${r.by.id} serves already: the replacement was finished before`);
    return { configuration: next, fenced: told.fenced, spaces: 0, addresses: 0, ms: Math.round(performance.now() - t0) };
  }
  const copied = await copyTo(next, fencedSurvivors, r);
  await activate(r.by, r);
  say(`activated acceptor ${r.by.id}: it serves epoch ${next.epoch}`);
  return { configuration: next, fenced: told.fenced, ...copied, ms: Math.round(performance.now() - t0) };
}

/** Copy the join of `sources`' state into the replacement `r.by`, space by space. */
async function copyTo(next: Configuration, sources: readonly Member[], r: ReplaceRequest): Promise<{ readonly spaces: number; readonly addresses: number }> {
  const admins = sources.map((m) => new AdminClient(m.address, { ...r.security, deadlineMs: r.deadlineMs ?? 10_000 }));
  const installer = new InstallerSession(r.by.address, next.epoch, r.security, r.deadlineMs ?? 10_000);
  try {
    const found = await Promise.all(admins.map((a) => a.status()));
    const names = [...new Set(found.flatMap((s) => s.spaces.map((x) => x.name)))].sort();
    // User spaces first: creating one creates its system spaces.
    await install(installer, names.filter((n) => ownerOfSystemSpace(n) === undefined).map((space): Request => ({ kind: "createSpace", space })));
    let addresses = 0;
    for (const space of names) addresses += await copySpace(space, admins, installer, r);
    return { spaces: names.length, addresses };
  } finally {
    installer.close();
    for (const a of admins) a.close();
  }
}

async function copySpace(space: string, admins: readonly AdminClient[], installer: InstallerSession, r: ReplaceRequest): Promise<number> {
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

/** Send `requests` to the replacement, a few per envelope; any refusal fails the copy. */
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

export interface RecoverRequest extends Omit<ReplaceRequest, "retired" | "by"> {
  /** The acceptors lost for good (their disks gone: they must never serve again). */
  readonly lost: readonly number[];
  /** The new acceptors, running `worm node --join`, that take their slots, in the same order. */
  readonly by: readonly Member[];
}

/**
 * Forced recovery (docs/ARCHITECTURE.md §3.5) of a configuration that lost its majority for good:
 * new acceptors take the lost ones' slots, copied from the survivors alone, and the chain's register
 * is written afterwards, under the new configuration (the old one has no quorum to choose it). Not
 * safe, and refused by the CLI unless asked for by name: a value chosen only by lost acceptors is
 * gone (its address may be written again), a value only a survivor accepted may become chosen, and
 * a "lost" acceptor that comes back with its data could still form a quorum of the old configuration
 * with another one. For a configuration that still has a quorum, `replaceAcceptor` is the way.
 */
export async function recoverLostMajority(r: RecoverRequest): Promise<Replaced> {
  const t0 = performance.now();
  const say = r.progress ?? (() => {});
  // The chain needs a quorum to read: the newest configuration a survivor holds is the start.
  const current = newestReported(await statuses(r.start.acceptors, r), r.start) ?? r.start;
  const survivors = current.acceptors.filter((m) => !r.lost.includes(m.id));
  if (survivors.length >= current.quorum) fail("invalid", `epoch ${current.epoch} keeps ${survivors.length} acceptors, a quorum: replace the lost ones one at a time with \`worm cluster replace\`, which loses nothing`);
  const n = replaced(current, r.lost, r.by);
  if (!n.ok) return fail("invalid", n.error);
  const next = n.value;
  for (const m of r.by) await preflight(m, next.epoch, r);
  say(`forcing ${describeConfiguration(next)} from ${survivors.map((m) => m.id).join(", ")} alone`);
  const told = await fence([...survivors, ...r.by], next, r);
  const missing = [...survivors, ...r.by].filter((m) => !told.fenced.includes(m.id));
  if (missing.length > 0) fail("unavailable", `epoch ${next.epoch} did not reach ${missing.map((m) => `acceptor ${m.id} (${told.refused.get(m.id) ?? "?"})`).join(", ")}: every survivor and every new acceptor must take it`);
  let addresses = 0;
  let spaces = 0;
  for (const m of r.by) {
    const copied = await copyTo(next, survivors, { ...r, retired: -1, by: m });
    await activate(m, r);
    say(`activated acceptor ${m.id}`);
    addresses += copied.addresses;
    spaces = copied.spaces;
  }
  try {
    await choose(next, next, r);
  } catch (e) {
    say(`the chain's register ${next.epoch - 1} was not written (${(e as Error).message}); the acceptors hold epoch ${next.epoch} all the same`);
  }
  return { configuration: next, fenced: told.fenced, spaces, addresses, ms: Math.round(performance.now() - t0) };
}
