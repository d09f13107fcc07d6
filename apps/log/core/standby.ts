/**
 * Which sequencer serves a log (DESIGN.md §4.1, a lease-free rule in the spirit of §4.2: a wrongful
 * takeover costs time, never safety). The log's **active** sequencer is the owner of its last
 * allocated segment, as its allocation metadata says (`{sequencer, address}`). Another sequencer
 * that serves at an address stands by for it (redirecting clients there) unless a client asks it
 * to take over, naming that address (a takeover hint: the client gave up on it). An embedded
 * sequencer (no address), or an earlier incarnation at our own address, is fenced instead.
 */
import { lastAllocated, metaAddress, metaOwner, type SegmentConfig } from "./segments.ts";
import { type ActiveSequencer, type LogResult, type RegGen, logOk, run } from "./steps.ts";

/** A sequencer as its segments name it: its owner id, and where it serves (none: embedded). */
export interface SequencerSelf {
  readonly owner: string;
  readonly address?: string;
}

/** What to do about the last segment's owner: it is us (or nobody yet), fence it, or stand by for it. */
export type LastOwner = "ours" | "fence" | ActiveSequencer;

/** Who owns segment `last` (the last allocated one, -1 for none), as far as `self` is concerned;
 *  `takeover(address)`: a client asked us to take over from the sequencer at `address`. */
export function* ownerOf(cfg: SegmentConfig, self: SequencerSelf, last: number, takeover: (address: string) => boolean): RegGen<LogResult<LastOwner>> {
  if (last < 0) return logOk("ours");
  const c = yield* run({ kind: "check", space: cfg.log, segment: last });
  if (!c.ok) return c;
  if (c.value._tag !== "Allocated") return logOk("ours");
  const owner = metaOwner(c.value.meta);
  const address = metaAddress(c.value.meta);
  if (owner === self.owner) return logOk("ours");
  if (owner === undefined || address === undefined || self.address === undefined || address === self.address || takeover(address)) return logOk("fence");
  return logOk({ owner, address });
}

/** `ownerOf` the log's last allocated segment. */
export function* lastOwner(cfg: SegmentConfig, self: SequencerSelf, takeover: (address: string) => boolean): RegGen<LogResult<LastOwner>> {
  const last = yield* lastAllocated(cfg);
  if (!last.ok) return last;
  return yield* ownerOf(cfg, self, last.value, takeover);
}

/** A standby's answer to a grant request. */
export const redirect = (self: SequencerSelf, log: string, active: ActiveSequencer): LogResult<never> => ({
  ok: false,
  failure: { code: "redirect", message: `sequencer ${self.owner} stands by: ${active.owner} at ${active.address} serves log ${log}`, active },
});
