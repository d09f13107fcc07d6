/**
 * Network addresses as users write them, in cluster files and flags ("host:port"): parsed and
 * normalised here, for every gateway and the cluster file alike.
 */

/** The host of an address given as a bare port (":7100" or "7100"): loopback. */
const DEFAULT_HOST = "127.0.0.1";

/** "host:port", "[v6]:port", ":port" or "port"; returns a message when invalid. */
export function parseAddress(raw: unknown): { host: string; port: number; address: string } | string {
  if (typeof raw !== "string" && typeof raw !== "number") return `required, "host:port" (got ${JSON.stringify(raw)})`;
  const text = String(raw).trim();
  const bad = `must be "host:port" with a port from 1 to 65535 (got ${JSON.stringify(raw)})`;
  const colon = text.lastIndexOf(":");
  const hostPart = colon < 0 ? "" : text.slice(0, colon);
  const portText = colon < 0 ? text : text.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65_535) return bad;
  let host = DEFAULT_HOST;
  if (hostPart.startsWith("[") && hostPart.endsWith("]") && /^[0-9A-Fa-f:.]+$/.test(hostPart.slice(1, -1))) host = hostPart.slice(1, -1);
  else if (/^[A-Za-z0-9.-]+$/.test(hostPart)) host = hostPart;
  else if (hostPart !== "") return bad;
  return { host, port, address: `${host.includes(":") ? `[${host}]` : host}:${port}` };
}
