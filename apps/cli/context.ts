/**
 * `worm context save|use|list|remove`: named cluster files (contexts.ts), so that a verb needs no
 * `--cluster`: `worm context save prod /etc/worm/cluster.json && worm context use prod`.
 */
import { resolve } from "node:path";
import { Argument, Command, Flag } from "effect/cli";
import { loadCluster } from "./cluster.ts";
import { checkContextName, configDir, contextCluster, currentContext, listContexts, removeContext, saveContext, useContext } from "./contexts.ts";
import { task, usage } from "./errors.ts";
import { printJson, printLine, table } from "./output.ts";

const nameArg = Argument.String("name").pipe(Argument.withDescription("the context's name"));
const json = Flag.Boolean("json").pipe(Flag.withDescription("print one JSON document"), Flag.withDefault(false));

const save = Command.make(
  "save",
  { name: nameArg, file: Argument.String("file").pipe(Argument.withDescription("the cluster file (a relative path is taken from this directory)")), json },
  (c) =>
    task(async () => {
      const name = checkContextName(c.name);
      const file = resolve(c.file);
      const config = await loadCluster(file); // a context names a cluster file that works
      const replaced = await saveContext(name, file);
      if (c.json) printJson({ name, cluster: file, clusterId: config.clusterId, replaced });
      else printLine(`${replaced ? "replaced" : "saved"} context ${name}: cluster ${config.clusterId} (${file}); use it with 'worm context use ${name}'`);
    }),
).pipe(Command.withDescription("Save a cluster file under a name (checked first; stored as an absolute path)"));

const use = Command.make("use", { name: nameArg }, (c) =>
  task(async () => {
    const name = checkContextName(c.name);
    const file = await contextCluster(name);
    if (file === undefined) {
      const known = (await listContexts()).map((x) => x.name);
      throw usage(`no context named ${name}${known.length > 0 ? ` (saved: ${known.join(", ")})` : ""}; save it with 'worm context save ${name} FILE'`);
    }
    await useContext(name);
    printLine(`using context ${name} (${file}); WORM_CLUSTER and --cluster still win`);
  }),
).pipe(Command.withDescription("Use a saved context whenever a command names no cluster (WORM_CLUSTER and --cluster still win)"));

const list = Command.make("list", { json }, (c) =>
  task(async () => {
    const [all, current] = [await listContexts(), await currentContext()];
    if (c.json) {
      printJson({ configDir: configDir(), current: current ?? null, contexts: all.map((x) => ({ ...x, current: x.name === current })) });
      return;
    }
    if (all.length === 0) {
      printLine(`no contexts in ${configDir()}; save one with 'worm context save NAME FILE'`);
      return;
    }
    printLine(table(["", "NAME", "CLUSTER FILE"], all.map((x) => [x.name === current ? "*" : "", x.name, x.cluster])));
    if (process.env.WORM_CLUSTER) printLine(`(WORM_CLUSTER=${process.env.WORM_CLUSTER} is set: commands use it, not the context)`);
  }),
).pipe(Command.withDescription("List the saved contexts; * marks the one in use"));

const remove = Command.make("remove", { name: nameArg }, (c) =>
  task(async () => {
    const name = checkContextName(c.name);
    if (!(await removeContext(name))) throw usage(`no context named ${name}`);
    printLine(`removed context ${name}`);
  }),
).pipe(Command.withDescription("Remove a saved context"));

export const contextCommand = Command.make("context").pipe(Command.withSubcommands([save, use, list, remove]));
