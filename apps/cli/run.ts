/**
 * Runs the `worm` command tree (effect/cli) as the process's main program: parse errors and
 * handler failures become one line on stderr with an exit code (errors.ts); SIGINT/SIGTERM
 * interrupt the command, whose finalizers close servers and storage. A serving command (dev, node)
 * stopped by a signal exits 0: that is how it is meant to end.
 */
import * as Cause from "effect/Cause";
import * as Effect from "effect/Effect";
import * as Exit from "effect/Exit";
import * as Layer from "effect/Layer";
import { CliConfig, CliError, CliOutput, Command, Flag, GlobalFlag, type HelpDoc } from "effect/cli";
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner";
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem";
import * as NodePath from "@effect/platform-node/NodePath";
import * as NodeStdio from "@effect/platform-node/NodeStdio";
import * as NodeTerminal from "@effect/platform-node/NodeTerminal";
import { suggestFlags } from "./did-you-mean.ts";
import { CliFailure, EXIT, oneLine, toFailure } from "./errors.ts";
import { LEADING_FLAGS } from "./leading-flags.ts";

/**
 * The platform services a command needs. (NodeServices.layer is not used: @effect/platform-node
 * 4.0.6 imports `effect/Crypto`, which effect 4.1 no longer has.)
 */
const NodeLayer = Layer.provideMerge(
  NodeChildProcessSpawner.layer,
  Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeStdio.layer, NodeTerminal.layer),
);

/** `--version` without effect/cli's `-v` alias: `-v` is the verbs' --verbose. */
const Version = GlobalFlag.Action({
  flag: Flag.Boolean("version").pipe(Flag.withDescription("Show version information"), Flag.withDefault(false)),
  run: GlobalFlag.Version.run,
});

/** --help, --version, --completions; no interactive wizard, no log level (worm does not log through Effect). */
const BUILT_INS = [GlobalFlag.Help, Version, GlobalFlag.Completions];

let serving = false;
/** A long-running command calls this once it serves: a signal then ends it with exit code 0. */
export const markServing = (): void => {
  serving = true;
};

/** The help page of the command a failed invocation was for (effect/cli presents it before failing). */
interface Help {
  readonly path: readonly string[];
  readonly doc: HelpDoc.HelpDoc;
}

function writeLine(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Of the flags a verb takes, at most this many are named when it is given a connection flag it does not take. */
const takesListedMax = 8;

/**
 * An unknown flag's line: the command it was given to (for a flag before the verb, the verb's),
 * and the flags of that command's help page it may have meant (did-you-mean.ts); a connection
 * flag the verb does not take names the flags it does; a flag of the verb given before it says to
 * move it.
 */
function unknownFlagLine(e: CliError.UnrecognizedOption, help: Help | undefined): string {
  if (help === undefined) {
    const hint = e.suggestions.length > 0 ? `; did you mean ${e.suggestions.join(" or ")}?` : "";
    return `unknown flag ${e.option}${e.command ? ` for "${e.command.join(" ")}"` : ""}${hint}`;
  }
  const path = help.path.join(" ");
  const namesOf = (flags: readonly HelpDoc.FlagDoc[]) => flags.flatMap((f) => [`--${f.name}`, ...f.aliases]);
  const own = namesOf(help.doc.flags);
  const before = (e.command?.length ?? 0) < help.path.length;
  if (before && own.includes(e.option)) {
    const root = e.command?.length === 1 ? " (only connection flags may come before the verb)" : "";
    return `${e.option} is a flag of "${path}": give it after "${help.path.at(-1)}"${root}`;
  }
  const suggestions = suggestFlags(e.option, [...own, ...namesOf(help.doc.globalFlags ?? [])]);
  if (suggestions.length > 0) return `unknown flag ${e.option} for "${path}"; did you mean ${suggestions.join(" or ")}?`;
  const listed = own.filter((f) => f.startsWith("--"));
  if (LEADING_FLAGS.includes(e.option) && listed.length > 0) {
    const more = listed.length > takesListedMax ? ", ..." : "";
    return `unknown flag ${e.option} for "${path}", which takes ${listed.slice(0, takesListedMax).join(", ")}${more}`;
  }
  return `unknown flag ${e.option} for "${path}"`;
}

/** The one-line message of a parse error; `help`: the help page of the command it was found for. */
function parseErrorLine(e: CliError.CliError, help?: Help): string {
  if (e._tag === "UnknownSubcommand") {
    const where = e.parent && e.parent.length > 0 ? ` for "${e.parent.join(" ")}"` : "";
    const hint = e.suggestions.length > 0 ? `; did you mean ${e.suggestions.map((s) => `"${s}"`).join(" or ")}?` : "";
    return `unknown command "${e.subcommand}"${where}${hint}`;
  }
  if (e._tag === "UnrecognizedOption") return unknownFlagLine(e, help);
  return oneLine(e.message);
}

function failureOf(cause: Cause.Cause<unknown>, help: Help | undefined): CliFailure {
  const e = Cause.squash(cause);
  if (CliError.isCliError(e)) {
    if (e._tag === "ShowHelp") {
      const first = e.errors[0];
      const path = e.commandPath.join(" ");
      if (first) return new CliFailure(`${parseErrorLine(first, help)} (see '${path} --help')`, EXIT.usage);
      const subs = help?.doc.subcommands?.flatMap((g) => g.commands.map((c) => c.name)) ?? [];
      const list = subs.length > 0 ? `: one of ${subs.join(", ")}` : "";
      return new CliFailure(`"${path}" needs a command${list} (see '${path} --help')`, EXIT.usage);
    }
    if (e._tag === "UserError") return toFailure(e.cause);
    return new CliFailure(parseErrorLine(e), EXIT.usage);
  }
  return toFailure(e);
}

/** Run `root` on `argv`; the process ends with the command's exit code once everything it opened is closed. */
export function runCli<Name extends string, Input, E, R, CI>(root: Command.Command<Name, Input, CI, E, R>, argv: readonly string[], version: string): void {
  let help: Help | undefined;
  const presenter: CliOutput.Presenter = {
    present: (event) =>
      Effect.sync(() => {
        const formatter = CliOutput.defaultFormatter({ colors: process.stdout.isTTY === true });
        if (event._tag === "Version") writeLine(process.stdout, formatter.formatVersion(event.name, event.version));
        else if (event._tag === "Help" && event.reason === "Requested") writeLine(process.stdout, formatter.formatHelpDoc(event.helpDoc));
        // Implicit help, an invalid invocation: reported as one line when the program exits.
        else help = { path: event.commandPath, doc: event.helpDoc };
      }),
  };
  const program = Command.runWith(root, { version })(argv).pipe(Effect.provide(Layer.mergeAll(NodeLayer, CliOutput.layerPresenter(presenter), CliConfig.layer({ builtIns: BUILT_INS }))));
  const fiber = Effect.runFork(program as Effect.Effect<void, unknown, never>);
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    fiber.interruptUnsafe();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Started by `worm dev --processes`, which holds an IPC channel to this process: stop when it goes away, even killed.
  process.channel?.unref();
  process.once("disconnect", onSignal);
  // The reader of our output went away (`worm ... | head`): stop quietly, as a pipe's SIGPIPE would.
  let readerGone = false;
  const onStdoutError = (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE" || readerGone) return;
    readerGone = true;
    fiber.interruptUnsafe();
  };
  process.stdout.on("error", onStdoutError);
  fiber.addObserver((exit) => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("disconnect", onSignal);
    let code: number = EXIT.ok;
    if (readerGone) code = EXIT.ok;
    else if (Exit.isFailure(exit)) {
      if (Cause.hasInterruptsOnly(exit.cause)) code = serving && signalled ? EXIT.ok : 130;
      else {
        const f = failureOf(exit.cause, help);
        writeLine(process.stderr, `worm: ${oneLine(f.message)}`);
        code = f.exitCode;
      }
    }
    // Never process.exit: it can deadlock against a background compile (nodejs/node#54918) and it
    // cuts piped output short. Every command closes what it opened, so the loop ends on its own
    // once stdout and stderr have drained.
    process.exitCode = code;
  });
}
