/** fast-check arbitraries for the wire's domain types (valid values only). */
import type { Configuration } from "../../wor/core/configuration.ts";
import fc from "fast-check";
import type { Ballot } from "../../paxos/ballot.ts";
import { allocSpaceOf } from "../../paxos/limits.ts";
import type { Entry, ErrorCode, RangePromise, Refusal, Reply, ReportedAddress, Request } from "../../paxos/messages.ts";
import type { AcceptorStatus, InspectReply, InspectRequest, SpaceSummary } from "../../wor/wire/admin.ts";
import type { ClientFrame, ServerFrame } from "../../wor/core/frames.ts";

const MAX = Number.MAX_SAFE_INTEGER;

/** fast-check may build null-prototype records; the codec builds plain objects. Compare like with like. */
const plain = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => a.map((v) => structuredClone(v));
const RANGE_MAX = 1 << 20;

export const index = (): fc.Arbitrary<number> => fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: MAX }), fc.constant(MAX));
const part = (): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: MAX }));

export const ballot = (): fc.Arbitrary<Ballot> =>
  fc.oneof(fc.constant({ round: 0, proposer: 0 }), fc.record({ round: part(), proposer: part() }));

export const userSpace = (): fc.Arbitrary<string> => fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
export const space = (): fc.Arbitrary<string> => fc.oneof(userSpace(), userSpace().map(allocSpaceOf));
export const value = (): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: 48 });

/** [from, to) with 1 ≤ to - from ≤ rangeMax, inside the exact integers. */
export const range = (): fc.Arbitrary<{ from: number; to: number }> =>
  fc
    .tuple(fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: MAX - RANGE_MAX })), fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant(RANGE_MAX)))
    .map(([from, n]) => ({ from, to: from + n }));

const entry = (): fc.Arbitrary<Entry> => fc.record({ index: index(), value: value() });

export const request = (): fc.Arbitrary<Request> =>
  fc.oneof(
    fc.record({ space: space(), r: range(), ballot: ballot() }).map(({ space, r, ballot }) => ({ kind: "prepare" as const, space, ...r, ballot })),
    fc.record({ kind: fc.constant("accept" as const), space: space(), ballot: ballot(), entries: fc.array(entry(), { minLength: 1, maxLength: 6 }) }),
    fc.record({ kind: fc.constant("commit" as const), space: space(), ballot: ballot(), indexes: fc.array(index(), { maxLength: 6 }) }),
    fc.record({ space: space(), r: range() }).map(({ space, r }) => ({ kind: "read" as const, space, ...r })),
    fc.record({ kind: fc.constant("trim" as const), space: space(), below: index() }),
    fc.record({ kind: fc.constant("createSpace" as const), space: userSpace() }),
    fc.record({ kind: fc.constant("install" as const), space: space(), addresses: fc.array(reported(), { maxLength: 4 }), ranges: fc.array(rangePromise(), { maxLength: 3 }) }),
  );

export const clientFrame = (): fc.Arbitrary<ClientFrame> =>
  plain(
  fc.oneof(
    fc.record({ id: index(), kind: fc.constant("request" as const), request: request() }),
    fc.record({ id: index(), kind: fc.constant("watch" as const), space: space(), from: index(), skipOwn: fc.constant(true as const) }, { requiredKeys: ["id", "kind", "space", "from"] }),
    fc.record({ id: index(), kind: fc.constant("unwatch" as const), watchId: index() }),
  ));

export const reported = (): fc.Arbitrary<ReportedAddress> =>
  fc.record(
    { index: index(), promised: ballot(), accepted: fc.record({ ballot: ballot(), value: value() }), committed: fc.boolean() },
    { requiredKeys: ["index", "promised", "committed"], noNullPrototype: true },
  );

const refusal = (): fc.Arbitrary<Refusal> =>
  fc.record({ index: index(), promised: ballot(), trimmed: fc.boolean(), chosen: value() }, { requiredKeys: ["index", "promised", "trimmed"], noNullPrototype: true });

export const rangePromise = (): fc.Arbitrary<RangePromise> =>
  fc.record({ r: range(), ballot: ballot() }).map(({ r, ballot }) => ({ ...r, ballot }));

const errorCode = (): fc.Arbitrary<ErrorCode> =>
  fc.constantFrom("unknownSpace", "invalid", "tooLarge", "notReady", "unauthenticated", "internal");

export const reply = (): fc.Arbitrary<Reply> =>
  fc.oneof(
    fc.record({ kind: fc.constant("promise" as const), ballot: ballot(), accepted: fc.array(reported(), { maxLength: 5 }) }),
    fc.record({ kind: fc.constant("prepareRejected" as const), promised: ballot() }),
    fc.record({ kind: fc.constant("voted" as const), ballot: ballot(), refused: fc.array(refusal(), { maxLength: 5 }) }),
    fc.constant({ kind: "committed" as const }),
    fc.record({
      kind: fc.constant("states" as const),
      trimMark: index(),
      addresses: fc.array(reported(), { maxLength: 5 }),
      ranges: fc.array(rangePromise(), { maxLength: 4 }),
    }),
    fc.record({ kind: fc.constant("trimmed" as const), mark: index() }),
    fc.constant({ kind: "spaceCreated" as const }),
    fc.constant({ kind: "installed" as const }),
    fc.record({ kind: fc.constant("error" as const), code: errorCode(), message: fc.string({ maxLength: 40 }) }),
  );

export const serverFrame = (): fc.Arbitrary<ServerFrame> =>
  plain(
  fc.oneof(
    fc.record({ id: index(), kind: fc.constant("reply" as const), reply: reply() }),
    fc.record({ id: index(), kind: fc.constant("learned" as const), space: space(), index: index(), ballot: ballot(), value: fc.option(value(), { nil: undefined }) }),
    fc.record({ id: index(), kind: fc.constant("accepted" as const), space: space(), index: index(), ballot: ballot(), value: value() }),
  ));

const summary = (): fc.Arbitrary<SpaceSummary> =>
  fc.record({
    name: space(),
    trimMark: index(),
    addresses: index(),
    ranges: fc.nat(4096),
    highestAccepted: fc.oneof(fc.constant(-1), index()),
  });

export const status = (): fc.Arbitrary<AcceptorStatus> =>
  plain(
  fc.record(
    { acceptorId: index(), clusterId: fc.string({ maxLength: 20 }), version: fc.string({ maxLength: 10 }), spaces: fc.array(summary(), { maxLength: 4 }), joining: fc.boolean(), configuration: configuration() },
    { requiredKeys: ["acceptorId", "clusterId", "version", "spaces", "joining"] },
  ));

/** A configuration (wor/core/configuration.ts): distinct ids and addresses, a majority quorum. */
export const configuration = (): fc.Arbitrary<Configuration> =>
  fc
    .record({ epoch: fc.nat(1_000_000), ids: fc.uniqueArray(fc.nat(2 ** 31 - 1), { minLength: 1, maxLength: 7 }) })
    .map(({ epoch, ids }) => ({ epoch, quorum: Math.floor(ids.length / 2) + 1, acceptors: ids.map((id, k) => ({ id, address: `127.0.0.${k + 1}:${7000 + k}` })) }));

export const inspectRequest = (): fc.Arbitrary<InspectRequest> =>
  plain(
  fc.record({ space: space(), r: range() }).map(({ space, r }) => ({ space, ...r })));

export const inspectReply = (): fc.Arbitrary<InspectReply> =>
  plain(
  fc.record({ trimMark: index(), addresses: fc.array(reported(), { maxLength: 5 }), ranges: fc.array(rangePromise(), { maxLength: 4 }) }));
