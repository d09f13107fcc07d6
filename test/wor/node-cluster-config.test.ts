import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ClusterConfigError, acceptorOf, clusterConfigFromText, configurationOf, loadClusterConfig, parseClusterConfig, rewriteClusterFile } from "../../wor/node/cluster-config.ts";
import { parseAddress } from "../../wor/wire/address.ts";

const base = {
  clusterId: "c1",
  segmentSize: 4096,
  acceptors: [
    { id: 1, address: "127.0.0.1:7001" },
    { id: 2, address: "7002" },
    { id: 3, address: ":7003", dataDir: "data/a3" },
  ],
};
const errorsOf = (x: unknown): readonly string[] => {
  const r = parseClusterConfig(JSON.stringify(x));
  assert.equal(r.ok, false, "expected the config to be rejected");
  return r.ok ? [] : r.errors;
};

describe("cluster config", () => {
  test("defaults: majority quorum, loopback host", () => {
    const c = clusterConfigFromText(JSON.stringify(base));
    assert.equal(c.quorum, 2);
    assert.deepEqual(
      c.acceptors.map((a) => a.address),
      ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"],
    );
    assert.equal(c.acceptors[2]?.dataDir, "data/a3");
    assert.equal(c.tls, undefined);
    assert.equal(clusterConfigFromText(JSON.stringify({ ...base, quorum: 3 })).quorum, 3);
  });

  test("every bad field is reported with its path", () => {
    const errors = errorsOf({
      clusterId: "",
      segmentSize: 3000,
      quorum: 1,
      acceptors: [{ id: 1, address: "h:1" }, { id: 1, address: "h:2" }, { id: -4, address: "h:99999" }, { id: 5, address: "h:1", extra: true }],
      token: "short",
      colour: "blue",
    });
    const has = (re: RegExp) => assert.ok(errors.some((e) => re.test(e)), `no error matching ${re} in ${JSON.stringify(errors)}`);
    has(/^colour: unknown field/);
    has(/^clusterId:/);
    has(/^segmentSize: .*power of two.*3000/);
    has(/^acceptors\[1\]\.id: 1 is also the id of acceptors\[0\]/);
    has(/^acceptors\[2\]\.id:/);
    has(/^acceptors\[2\]\.address: .*65535/);
    has(/^acceptors\[3\]\.address: h:1 is also the address of acceptors\[0\]/);
    has(/^acceptors\[3\]\.extra: unknown field/);
    has(/^token:/);
  });

  test("a quorum that does not intersect, or cannot be reached, is rejected", () => {
    assert.match(errorsOf({ ...base, quorum: 1 }).join(), /quorum: 1 of 3/);
    assert.match(errorsOf({ ...base, quorum: 4 }).join(), /quorum: 4 of 3/);
    assert.match(errorsOf({ ...base, quorum: 2.5 }).join(), /quorum: must be a positive integer/);
    assert.match(errorsOf({ ...base, acceptors: [...base.acceptors, { id: 4, address: "7004" }], quorum: 2 }).join(), /two quorums must share/);
  });

  test("segment size bounds", () => {
    assert.equal(clusterConfigFromText(JSON.stringify({ ...base, segmentSize: 1 })).segmentSize, 1);
    assert.equal(clusterConfigFromText(JSON.stringify({ ...base, segmentSize: 2 ** 20 })).segmentSize, 2 ** 20);
    for (const bad of [0, 2 ** 21, -2, "64", 1.5]) assert.match(errorsOf({ ...base, segmentSize: bad }).join(), /segmentSize/);
  });

  test("tls fields", () => {
    assert.match(errorsOf({ ...base, tls: { cert: "c.pem" } }).join(), /cert and key go together/);
    assert.match(errorsOf({ ...base, tls: { cert: "c", key: "k", requireClientCert: true } }).join(), /needs tls\.ca/);
    const c = clusterConfigFromText(JSON.stringify({ ...base, tls: { cert: "c", key: "k", ca: "ca" } }));
    assert.deepEqual(c.tls, { cert: "c", key: "k", ca: "ca", requireClientCert: false });
  });

  test("not JSON, not an object, no acceptors", () => {
    const r = parseClusterConfig("{ nope");
    assert.ok(!r.ok && /not JSON/.test(r.errors[0]!));
    assert.match(errorsOf([1, 2]).join(), /JSON object/);
    assert.match(errorsOf({ ...base, acceptors: [] }).join(), /acceptors: required/);
    assert.throws(() => clusterConfigFromText("{}"), (e: unknown) => e instanceof ClusterConfigError && e.errors.length >= 3);
  });

  test("sequencers: optional host:port addresses in failover order, normalised, distinct", () => {
    assert.equal(clusterConfigFromText(JSON.stringify(base)).sequencers, undefined);
    assert.deepEqual(clusterConfigFromText(JSON.stringify({ ...base, sequencers: ["7103", "10.0.0.2:7103"] })).sequencers, ["127.0.0.1:7103", "10.0.0.2:7103"]);
    assert.match(errorsOf({ ...base, sequencers: "127.0.0.1:7103" }).join(), /^sequencers: must be an array/);
    assert.match(errorsOf({ ...base, sequencers: ["127.0.0.1:7103", "nowhere"] }).join(), /^sequencers\[1\]: must be "host:port"/);
    assert.match(errorsOf({ ...base, sequencers: ["7103", "127.0.0.1:7103"] }).join(), /^sequencers\[1\]: 127.0.0.1:7103 appears twice/);
    assert.match(errorsOf({ ...base, sequencers: Array.from({ length: 17 }, (_, k) => `h:${k + 1}`) }).join(), /^sequencers: at most 16/);
  });

  test("groups (docs/ARCHITECTURE.md §3.6): each its acceptors, quorum and epoch; an acceptor serves one group", () => {
    const g = { g1: { acceptors: [{ id: 11, address: "7011" }, { id: 12, address: "7012" }, { id: 13, address: "7013", dataDir: "g1/a13" }], epoch: 2 } };
    const c = clusterConfigFromText(JSON.stringify({ ...base, groups: g }));
    assert.deepEqual(c.groups?.map((x) => [x.name, x.quorum, x.epoch, x.acceptors.map((a) => a.id)]), [["g1", 2, 2, [11, 12, 13]]]);
    assert.deepEqual(configurationOf(c, "g1"), { epoch: 2, quorum: 2, acceptors: [11, 12, 13].map((id) => ({ id, address: `127.0.0.1:70${id}` })) });
    assert.equal(acceptorOf(c, 13)?.dataDir, "g1/a13");
    assert.throws(() => configurationOf(c, "g2"), /names no group g2/);
    const errors = errorsOf({ ...base, groups: { main: g.g1, "b@d": g.g1, g2: { acceptors: [{ id: 1, address: "7101" }, { id: 21, address: "7002" }], quorum: 1, color: "red" } } });
    for (const re of [/groups\.main: a group's name/, /groups\.b@d: a group's name/, /groups\.g2\.acceptors: id 1 is also in acceptors/, /groups\.g2\.acceptors: 127\.0\.0\.1:7002 is also in acceptors/, /groups\.g2\.quorum: 1 of 2/, /groups\.g2\.color: unknown field/, /groups\.b@d\.acceptors: 127\.0\.0\.1:7011 is also in groups\.main\.acceptors/]) {
      assert.ok(errors.some((e) => re.test(e)), `no error matching ${re} in ${JSON.stringify(errors)}`);
    }
    assert.ok(errorsOf({ ...base, groups: {} }).some((e) => /groups: must be an object of groups/.test(e)));
  });

  test("rewriteClusterFile rewrites one group's acceptors, epoch and quorum, and keeps everything else", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wor-node-config-"));
    try {
      const path = join(dir, "cluster.json");
      const g1 = { acceptors: [{ id: 11, address: "7011", dataDir: "g1/a11" }, { id: 12, address: "7012" }, { id: 13, address: "7013" }] };
      await writeFile(path, JSON.stringify({ ...base, token: "x".repeat(16), groups: { g1 } }));
      const next = { epoch: 1, quorum: 3, acceptors: [{ id: 11, address: "127.0.0.1:7011" }, { id: 12, address: "127.0.0.1:7012" }, { id: 13, address: "127.0.0.1:7013" }, { id: 14, address: "127.0.0.1:7014" }] };
      await rewriteClusterFile(path, next, new Map([[14, "g1/a14"]]), "g1");
      const c = await loadClusterConfig(path);
      assert.deepEqual(c.acceptors.map((a) => a.id), [1, 2, 3], "the main group is untouched");
      assert.equal(c.epoch, 0);
      assert.equal(c.token, "x".repeat(16));
      const g = c.groups?.[0];
      assert.deepEqual([g?.epoch, g?.quorum, g?.acceptors.map((a) => a.id)], [1, 3, [11, 12, 13, 14]]);
      assert.deepEqual([g?.acceptors[0]?.dataDir, g?.acceptors[3]?.dataDir], [join(dir, "g1/a11"), join(dir, "g1/a14")]);
      await assert.rejects(rewriteClusterFile(path, next, new Map(), "g9"), /names no group g9/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("addresses", () => {
    assert.deepEqual(parseAddress("[::1]:80"), { host: "::1", port: 80, address: "[::1]:80" });
    assert.deepEqual(parseAddress("node-a.local:9000"), { host: "node-a.local", port: 9000, address: "node-a.local:9000" });
    assert.deepEqual(parseAddress(7000), { host: "127.0.0.1", port: 7000, address: "127.0.0.1:7000" });
    for (const bad of ["", "host", "host:", "host:0", "a b:1", "host:1:2x", null]) assert.equal(typeof parseAddress(bad), "string", String(bad));
  });

  test("loadClusterConfig resolves relative paths against the file's folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wor-node-config-"));
    try {
      const path = join(dir, "cluster.json");
      await writeFile(path, JSON.stringify({ ...base, tls: { ca: "tls/ca.pem" }, groups: { g1: { acceptors: [{ id: 9, address: "7009", dataDir: "g1/a9" }] } } }));
      const c = await loadClusterConfig(path);
      assert.equal(c.acceptors[2]?.dataDir, join(dir, "data/a3"));
      assert.equal(c.groups?.[0]?.acceptors[0]?.dataDir, join(dir, "g1/a9"));
      assert.equal(c.tls?.ca, join(dir, "tls/ca.pem"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
