/**
 * Loopback ports for servers a test stops and starts again at the same address (an acceptor of a
 * cluster file, a KV node of a map, an SMR replica of a list: the address is part of who it is).
 *
 * Port 0 is not enough for them. The kernel hands out ports of its ephemeral range both to
 * listeners that bind port 0 and to outgoing connections (every gRPC channel of the suite's files,
 * which run side by side), so a port freed there can be taken before the server binds it again; CI
 * saw it once, a restart failing with EADDRINUSE. These ports come from just below that range, where
 * the kernel never hands a port out by itself: each picked at random, bound once to check that
 * nothing holds it, then released. Where the range cannot be read (not Linux), port 0 as before.
 */
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";

/** How many ports below the ephemeral range to pick from. */
const SPAN = 8_192;

function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low - SPAN >= 1_024 ? low : undefined;
  } catch {
    return undefined;
  }
}

const LOW = ephemeralLow();
/** Ports this process handed out already (a test may hold one while it is down). */
const handedOut = new Set<number>();

/** Bind `port` on 127.0.0.1 and release it: the port bound, or undefined if something holds it. */
async function bindOnce(port: number): Promise<number | undefined> {
  const s = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (!bound) return undefined;
  const got = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return got;
}

/** `n` distinct ports on 127.0.0.1 that nothing listened on when picked. */
export async function stablePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries >= 200 + n) throw new Error(`no free port found below ${LOW} after ${tries} tries`);
    const want = LOW === undefined ? 0 : LOW - 1 - Math.floor(Math.random() * SPAN);
    if (handedOut.has(want)) continue;
    const got = await bindOnce(want);
    if (got === undefined || handedOut.has(got)) continue;
    handedOut.add(got);
    ports.push(got);
  }
  return ports;
}

/** `n` addresses "127.0.0.1:port" from {@link stablePorts}. */
export const stableAddresses = async (n: number): Promise<string[]> => (await stablePorts(n)).map((p) => `127.0.0.1:${p}`);
