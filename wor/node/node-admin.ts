/**
 * What an acceptor node answers its admin calls with (wor/wire/admin.ts): its status, and an
 * inspection of the core state as it is (possibly ahead of the disk).
 */
import { type AcceptorState, effectivePromise, forEachOwn } from "../../paxos/acceptor.ts";
import { LIMITS, isIndex, isSpaceName } from "../../paxos/limits.ts";
import type { ErrorCode, ReportedAddress } from "../../paxos/messages.ts";
import type { AcceptorStatus, InspectReply, InspectRequest, SpaceSummary } from "../wire/admin.ts";
import type { AcceptorStorage, NodeIdentity } from "./storage.ts";

/** Per space: its trim mark and range promises (resident), and its counts as the storage has them durable. */
export function statusOf(
  state: AcceptorState | undefined,
  storage: Pick<AcceptorStorage, "summary">,
  identity: Pick<NodeIdentity, "clusterId" | "acceptorId" | "configuration" | "joining">,
  version: string,
): AcceptorStatus {
  const spaces: SpaceSummary[] = [];
  for (const [name, s] of state?.spaces ?? []) {
    const counts = storage.summary(name);
    spaces.push({ name, trimMark: s.trimMark, addresses: counts.addresses, ranges: s.ranges.length, highestAccepted: counts.highestAccepted });
  }
  spaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { configuration } = identity;
  return { acceptorId: identity.acceptorId, clusterId: identity.clusterId, version, spaces, ...(configuration ? { configuration } : {}), joining: identity.joining === true };
}

/** The addresses of [from, to) the state holds (the node read them first), with their effective promises. */
export function inspected(state: AcceptorState, req: InspectRequest): InspectReply {
  const space = state.spaces.get(req.space)!;
  const addresses: ReportedAddress[] = [];
  forEachOwn(space, req.from, req.to, (index, s) => {
    const promised = effectivePromise(space, index);
    addresses.push(s.accepted ? { index, promised, accepted: s.accepted, committed: s.committed } : { index, promised, committed: s.committed });
  });
  const ranges = space.ranges.filter((r) => r.from < req.to && req.from < r.to);
  return { trimMark: space.trimMark, addresses, ranges };
}

/** Why an inspection of `state` cannot be served, or undefined. */
export function inspectRefusal(state: AcceptorState, req: InspectRequest): { readonly code: ErrorCode; readonly message: string } | undefined {
  if (!isSpaceName(req.space)) return { code: "invalid", message: `invalid space name ${JSON.stringify(req.space)}` };
  if (!state.spaces.has(req.space)) return { code: "unknownSpace", message: `unknown space ${JSON.stringify(req.space)}` };
  if (!isIndex(req.from) || !isIndex(req.to) || req.from >= req.to) return { code: "invalid", message: `invalid range [${req.from}, ${req.to})` };
  if (req.to - req.from > LIMITS.rangeMax) return { code: "tooLarge", message: `range exceeds ${LIMITS.rangeMax} addresses` };
  return undefined;
}
