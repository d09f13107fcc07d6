/**
 * `worm space create NAME`: create a register space (and its system spaces) at every acceptor, with
 * its kind and segment size chosen once, as write-once metadata.
 */
import { Argument, Command, Flag } from "effect/cli";
import type { CreateSpaceResult } from "../../wor/core/results.ts";
import { type SpaceKind, type SpaceMeta, describeSpaceMeta, kindNoun } from "../../wor/core/space-meta.ts";
import { checkSpaceName, connectionFlags, resolveTarget, withClient, type Target } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { printJson, printLine } from "./output.ts";
import { NAME_GRAMMAR } from "../../paxos/limits.ts";

/**
 * Report a create: "created" or "exists" when the space is what was asked for; a usage failure when
 * the name is taken by another kind, or by the same kind with another segment size given explicitly.
 */
export function reportCreate(what: string, name: string, kind: SpaceKind, target: Target, r: CreateSpaceResult, json: boolean): void {
  const m: SpaceMeta = r.meta;
  if (m.kind !== kind) throw usage(`${name} already exists as ${kindNoun(m.kind)} (segment size ${m.segmentSize}), not ${kindNoun(kind)}`);
  if (target.segmentSizeGiven !== undefined && m.segmentSize !== target.segmentSizeGiven) {
    throw usage(`${what} ${name} already exists with segment size ${m.segmentSize}, not ${target.segmentSizeGiven}`);
  }
  if (json) printJson({ name, result: r._tag, kind: m.kind, segmentSize: m.segmentSize });
  else printLine(r._tag === "Created" ? `created ${what} ${name} (${describeSpaceMeta(m)})` : `${what} ${name} exists (${describeSpaceMeta(m)})`);
}

const create = Command.make(
  "create",
  {
    name: Argument.String("name").pipe(Argument.withDescription(NAME_GRAMMAR)),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document")),
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.name);
      const target = await resolveTarget(c.conn);
      const r = await withClient(target, (client) => client.createSpace(space, { kind: "registers", segmentSize: target.segmentSize }));
      reportCreate("space", space, "registers", target, r, c.json);
    }),
).pipe(Command.withDescription("Create a register space (--segment-size sets its segment size); creating an existing one is a no-op"));

export const spaceCommand = Command.make("space").pipe(Command.withSubcommands([create]));
