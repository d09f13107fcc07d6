/**
 * The steps a reconfiguration is made of (docs/ARCHITECTURE.md §3.5), each idempotent: find the
 * newest configuration, check a new acceptor before anything is chosen, choose the next
 * configuration in the chain, fence (tell it to the acceptors), activate a new acceptor. The change
 * (reconfigure.ts) and the forced recovery (forced-recovery.ts) are made of them.
 */
import { CONFIGURATION_SPACE, type Configuration, type Member, chooseConfiguration, decodeConfiguration, describeConfiguration } from "../core/configuration.ts";
import type { AcceptorStatus } from "../wire/admin.ts";
import { AdminClient } from "./admin-client.ts";
import { WorClient, WorError } from "./client.ts";
import type { ClientSecurity } from "./credentials.ts";
import { drive } from "./driver.ts";
import { grpcTransport } from "./grpc-link.ts";
import { shortReason } from "./grpc-reason.ts";

export const fail = (code: "invalid" | "unavailable" | "contended", message: string): never => {
  throw new WorError({ code, message });
};

/** How the reconfigurer reaches the acceptors. */
export interface Reach {
  readonly security: ClientSecurity;
  /** Per call (default: a few seconds, longer for the calls that write). */
  readonly deadlineMs?: number;
}
/** How it reads and writes the chain through a register client. */
export interface ChainReach extends Reach {
  readonly segmentSize: number;
}

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
export async function statuses(members: readonly Member[], r: Reach): Promise<Map<number, AcceptorStatus | Error>> {
  const out = new Map<number, AcceptorStatus | Error>();
  await Promise.all(members.map(async (m) => out.set(m.id, await withAdmin(m.address, r, 3_000, (a) => a.status()).catch((e: Error) => e))));
  return out;
}

/** The newest configuration any of `found` reports holding, if newer than `c`. */
export function newestReported(found: ReadonlyMap<number, AcceptorStatus | Error>, c: Configuration): Configuration | undefined {
  const newer = [...found.values()].flatMap((s) => (s instanceof Error || !s.configuration || s.configuration.epoch <= c.epoch ? [] : [s.configuration]));
  return newer.length === 0 ? undefined : newer.reduce((a, b) => (b.epoch > a.epoch ? b : a));
}

/** Start a joining acceptor serving everyone. */
export const activate = (m: Member, r: Reach): Promise<boolean> => withAdmin(m.address, r, 10_000, (a) => a.activate());

/** A client of configuration `c`. */
const clientOf = (c: Configuration, r: ChainReach): WorClient =>
  new WorClient({
    transport: grpcTransport({ ...r.security, addresses: c.acceptors.map((m) => m.address), epoch: c.epoch }),
    acceptors: c.acceptors.length,
    quorum: c.quorum,
    segmentSize: r.segmentSize,
  });

/** The configuration register `index` of the chain holds (configuration index+1), read under `c`. */
export async function chainAt(c: Configuration, index: number, r: ChainReach): Promise<Configuration | undefined> {
  const client = clientOf(c, r);
  try {
    const got = await client.read(CONFIGURATION_SPACE, index, { recover: true });
    if (got._tag !== "Written") return undefined;
    const next = decodeConfiguration(got.value);
    return next.ok ? next.value : fail("invalid", `register ${index} of ${CONFIGURATION_SPACE} holds no configuration: ${next.error}`);
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
export async function newestConfiguration(start: Configuration, r: ChainReach): Promise<{ readonly configuration: Configuration; readonly statuses: Map<number, AcceptorStatus | Error> }> {
  let c = start;
  for (;;) {
    const found = await statuses(c.acceptors, r);
    const newer = newestReported(found, c);
    if (newer) {
      c = newer;
      continue;
    }
    const next = await chainAt(c, c.epoch, r);
    if (!next) return { configuration: c, statuses: found };
    c = next;
  }
}

/** Refuse a new acceptor that is not running as a joining one with its id (before anything is
 *  chosen); whether it is still joining (false: a run before finished it). */
export async function preflight(by: Member, epoch: number, r: Reach): Promise<boolean> {
  const s = await withAdmin(by.address, r, 3_000, (a) => a.status()).catch((e: Error) =>
    fail("unavailable", `the new acceptor at ${by.address} does not answer (${shortReason(e.message)}); start it first: \`worm node --id ${by.id} --join --listen ${by.address} --data-dir DIR\``),
  );
  if (s.acceptorId !== by.id) fail("invalid", `the acceptor at ${by.address} is acceptor ${s.acceptorId}, not ${by.id}`);
  const resuming = s.configuration?.epoch === epoch;
  if (!s.joining && !resuming) return fail("invalid", `acceptor ${by.id} at ${by.address} is not a new acceptor waiting to join (it ${s.configuration ? `holds epoch ${s.configuration.epoch}` : "serves already"}): start a new one with \`worm node --join\` on an empty data directory`);
  return s.joining;
}

/** Choose `next` in register next.epoch-1 of the chain under `current`; resolves once it is chosen there. */
export async function choose(current: Configuration, next: Configuration, r: ChainReach): Promise<void> {
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
export async function fence(members: readonly Member[], next: Configuration, r: Reach): Promise<{ readonly fenced: number[]; readonly refused: Map<number, string> }> {
  const fenced: number[] = [];
  const refused = new Map<number, string>();
  await Promise.all(
    members.map((m) =>
      // The acceptor at the address must be the member (an address may have been taken since by another acceptor).
      withAdmin(m.address, r, 10_000, async (a) => {
        const who = (await a.status()).acceptorId;
        if (who !== m.id) throw new Error(`the acceptor at ${m.address} is acceptor ${who}, not ${m.id}`);
        return a.reconfigure(next);
      }).then(
        () => fenced.push(m.id),
        (e: Error) => refused.set(m.id, e.message),
      ),
    ),
  );
  return { fenced: fenced.sort((a, b) => a - b), refused };
}
