/**
 * The package as a user gets it: `npm pack` (its `prepare` builds dist/), the tarball installed into
 * a new project outside the repository, the installed `worm` run through its own shebang from
 * there, and a script that imports the package (and a TypeScript file type-checked against its
 * .d.ts) writing and reading a register against a cluster the installed `worm dev` runs.
 *
 * The install needs no network for what our lock already holds: the project's lock is derived from
 * ours (the same versions, tarball addresses and integrity hashes as `npm ci` installed), so npm
 * resolves nothing and takes every package from its cache, which `npm ci` filled
 * (`--prefer-offline`: a package missing from the cache is still fetched rather than failing).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { Procs, REPO, runWorm, tempDir } from "../e2e/harness.ts";

const exec = promisify(execFile);

/** Each npm step (pack with its build, install) is bounded on its own. */
const NPM_STEP_MS_MAX = 120_000;

interface LockEntry {
  readonly dev?: boolean;
  readonly [field: string]: unknown;
}

/** npm, with the Node running this test first on the PATH (so that the bin's `env node` finds it too). */
const pathEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };
const npm = (args: readonly string[], cwd: string) => exec("npm", [...args], { cwd, env: pathEnv, timeout: NPM_STEP_MS_MAX, maxBuffer: 16 * 1024 * 1024 });

/** A lock for a project depending on the tarball alone: the tarball's entry and every production package of ours. */
function derivedLock(ours: { packages: Record<string, LockEntry> }, pkg: Record<string, unknown>, tarball: string, tarballBytes: Buffer) {
  const packages: Record<string, unknown> = {
    "": { name: "worm-pack-check", dependencies: { [pkg.name as string]: `file:${tarball}` } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tarball}`,
      integrity: `sha512-${createHash("sha512").update(tarballBytes).digest("base64")}`,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) if (path !== "" && !entry.dev) packages[path] = entry;
  return { name: "worm-pack-check", lockfileVersion: 3, requires: true, packages };
}

const SCRIPT = `import { WorClient, WorError, WormLog, grpcTransport } from "wormspace-ts";
import { LogError } from "wormspace-ts/log";
const addresses = process.argv.slice(2);
const worm = new WorClient({ transport: grpcTransport({ addresses }), acceptors: addresses.length, segmentSize: 64 });
try {
  await worm.createSpace("packed");
  const cap = await worm.capture("packed", 3);
  if (cap._tag !== "Captured") throw new Error("capture: " + cap._tag);
  const w = await worm.write(cap.capture, 3, new TextEncoder().encode("from the package"));
  const r = await worm.read("packed", 3);
  const value = r._tag === "Written" ? new TextDecoder().decode(r.value) : null;
  console.log(JSON.stringify({ write: w._tag, read: r._tag, value, exports: [typeof WorError, typeof WormLog, typeof LogError] }));
} finally {
  worm.close();
}
`;

/** Compiles only if the .d.ts carry the types: a read result narrows to its value. */
const TYPED = `import { type ReadResult, WorClient, grpcTransport } from "wormspace-ts";
import type { SettledRead } from "wormspace-ts/log";
export async function firstValue(addresses: string[]): Promise<Uint8Array | undefined> {
  const c = new WorClient({ transport: grpcTransport({ addresses }), acceptors: addresses.length, segmentSize: 64 });
  const r: ReadResult = await c.read("packed", 3);
  const s: SettledRead["kind"] = "fill";
  return r._tag === "Written" && s === "fill" ? r.value : undefined;
}
`;

test("npm pack, install the tarball outside the repository, run its worm and import it against a cluster it runs", { timeout: 300_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-pack-");
  const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as Record<string, unknown>;

  // Under `npm test`, dist/ was built just before and other tests run its worm meanwhile: pack it as
  // it is (a rebuild would delete it under them). Run alone, `prepare` builds it as for a user.
  const fresh = process.env.WORM_TEST_COMPILED === "1" ? ["--ignore-scripts"] : [];
  const packed = JSON.parse((await npm(["pack", "--json", ...fresh, "--pack-destination", dir], REPO)).stdout) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  assert.ok(files.includes("dist/apps/cli/bin/worm.js") && files.includes("dist/index.d.ts"), "the tarball holds the compiled bin and the types");
  assert.ok(!files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript source is packed");

  const project = join(dir, "project");
  await mkdir(project);
  const tarball = `../${packed[0]!.filename}`;
  const tarballBytes = await readFile(join(dir, packed[0]!.filename));
  const ours = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "worm-pack-check", private: true, type: "module", dependencies: { [pkg.name as string]: `file:${tarball}` } }, null, 2));
  await writeFile(join(project, "package-lock.json"), JSON.stringify(derivedLock(ours, pkg, tarball, tarballBytes), null, 2));
  await npm(["ci", "--prefer-offline", "--no-audit", "--no-fund"], project);

  // The bin, run as a user runs it (its shebang, its run bit), from a directory that is not the project's.
  const worm = join(project, "node_modules", ".bin", "worm");
  const env = { PATH: pathEnv.PATH };
  const version = await runWorm(["--version"], { bin: worm, cwd: dir, env, deadlineMs: 30_000 });
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), `worm v${pkg.version}`);

  const dev = procs.start(["dev", "--data-dir", join(dir, "data"), "--base-port", "0", "--json"], { bin: worm, cwd: dir, env });
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const addresses = ready.addresses as string[];

  await writeFile(join(project, "script.mjs"), SCRIPT);
  const ran = await exec(process.execPath, ["script.mjs", ...addresses], { cwd: project, timeout: 60_000 });
  assert.deepEqual(JSON.parse(ran.stdout), { write: "Ok", read: "Written", value: "from the package", exports: ["function", "function", "function"] });

  await writeFile(join(project, "typed.ts"), TYPED);
  const tsconfig = { compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2023", strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ["typed.ts"] };
  await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig));
  await exec(process.execPath, [join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: project, timeout: 60_000 }).catch((e: { stdout?: string }) => {
    assert.fail(`the package's types do not check: ${e.stdout}`);
  });

  const stopped = await dev.kill("SIGTERM");
  assert.equal(stopped.code, 0, stopped.stderr);
});
