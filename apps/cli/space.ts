/** `worm space create NAME`: create a space (and its allocation registers) at every acceptor. */
import { Argument, Command, Flag } from "effect/cli";
import { checkSpaceName, connectionFlags, resolveTarget, withClient } from "./cluster.ts";
import { task } from "./errors.ts";
import { printJson, printLine } from "./output.ts";

const create = Command.make(
  "create",
  {
    name: Argument.String("name").pipe(Argument.withDescription("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document")),
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.name);
      const target = await resolveTarget(c.conn);
      await withClient(target, (client) => client.createSpace(space));
      if (c.json) printJson({ space, result: "Created" });
      else printLine(`space ${space} exists (segment size ${target.segmentSize})`);
    }),
).pipe(Command.withDescription("Create a space; creating an existing space is a no-op"));

export const spaceCommand = Command.make("space").pipe(Command.withDescription("Spaces of registers"), Command.withSubcommands([create]));
