/**
 * What an acceptor node answers its admin calls with (wor/wire/admin.ts): its status, and an
 * inspection of the core state as it is (possibly ahead of the disk).
 */
import { type AcceptorState, effectivePromise, forEachOwn } from "../../paxos/acceptor.ts";
import type { ReportedAddress } from "../../paxos/messages.ts";
import type { AcceptorStatus, InspectReply, InspectRequest, SpaceSummary } from "../wire/admin.ts";
import type { AcceptorStorage } from "./storage.ts";

/** Per space: its trim mark and range promises (resident), and its counts as the storage has them durable. */
export function statusOf(
  state: AcceptorState | undefined,
  storage: Pick<AcceptorStorage, "summary">,
  identity: { readonly clusterId: string; readonly acceptorId: number },
  version: string,
): AcceptorStatus {
  const spaces: SpaceSummary[] = [];
  for (const [name, s] of state?.spaces ?? []) {
    const counts = storage.summary(name);
    spaces.push({ name, trimMark: s.trimMark, addresses: counts.addresses, ranges: s.ranges.length, highestAccepted: counts.highestAccepted });
  }
  spaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { acceptorId: identity.acceptorId, clusterId: identity.clusterId, version, spaces };
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
