import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { UsageError } from '../../src/core/errors.js';
import type { Inventory } from '../../src/core/inventory.js';
import { renderManifests } from '../../src/kubernetes/manifests.js';
import { MULTUS_CONF_DIR, netConfPath, netConfText, VHOSTUSER_GATEWAY, VHOSTUSER_MAX_NODES, VHOSTUSER_SUBNET, vhostUserRange } from '../../src/kubernetes/vhostuser-network.js';
import { manifestInput, NAD_NAME } from '../../src/steps/kubernetes/index.js';
import { requireNodeIps } from '../../providers/hosts/inventory.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';

/**
 * The vhost-user network's addresses (review W2): every node of the one L2 leases from its own block, and
 * the NAD plus each node's file are what thin multus v4.2.2 needs to find the network. No cluster runs here:
 * whether a pod on a real node gets its address is the e2e smoke check's to show.
 */
const SCRIPT = join(__dirname, '..', '..', 'scripts', 'node', 'cni-netconf.sh');
const SMOKE = join(__dirname, '..', '..', 'scripts', 'node', 'kubernetes-smoke.sh');
const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const [net, bits] = VHOSTUSER_SUBNET.split('/') as [string, string];
const first = toInt(net);
const last = first + 2 ** (32 - Number(bits)) - 1;

/**
 * A stand-in for GetCNIConfigFromFile as read at k8snetworkplumbingwg/multus-cni@00adf22482945de41ff702258593aaf867a48e2d
 * (vendor/github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils/cniconfig.go): the
 * directory's .conf/.json/.conflist files in name order; the first whose "name" is the network's wins; a
 * file that does not parse, or a .conf without "type", stops the search with an error.
 */
function multusLookup(dir: string, name: string): string {
  const files = readdirSync(dir).filter((f) => ['.conf', '.json', '.conflist'].includes(extname(f))).sort();
  if (files.length === 0) throw new Error(`No networks found in ${dir}`);
  for (const f of files) {
    const conf = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { name?: string; type?: string };
    if (conf.name === name) {
      if (!f.endsWith('.conflist') && !conf.type) throw new Error(`${f}: no 'type'`);
      return f;
    }
  }
  throw new Error(`no network available in the name ${name} in cni dir ${dir}`);
}

describe('the vhost-user network, one block of addresses per node', () => {
  it.each(Array.from({ length: VHOSTUSER_MAX_NODES }, (_, i) => i + 1))('%i node(s): blocks disjoint, inside the subnet, never its network, gateway or broadcast address', (count) => {
    const blocks = Array.from({ length: count }, (_, i) => vhostUserRange(i + 1)).map((r) => [toInt(r.rangeStart), toInt(r.rangeEnd)] as const);
    for (const [start, end] of blocks) {
      expect(end).toBeGreaterThanOrEqual(start);
      expect(start).toBeGreaterThan(first);
      expect(end).toBeLessThan(last);
      expect(toInt(VHOSTUSER_GATEWAY) < start || toInt(VHOSTUSER_GATEWAY) > end).toBe(true);
    }
    blocks.forEach(([s1, e1], i) => blocks.slice(i + 1).forEach(([s2, e2]) => expect(e1 < s2 || e2 < s1, `blocks ${i + 1} and another overlap`).toBe(true)));
  });

  it('a node number outside 1..16 has no block', () => {
    for (const bad of [0, VHOSTUSER_MAX_NODES + 1, 1.5, -1]) expect(() => vhostUserRange(bad)).toThrow(/node index .* has no address block/);
  });

  it('a 16-node cluster renders 16 files: same network name as the NAD, each its own range', () => {
    const rendered = renderManifests(manifestInput(kubernetesContext({ nodes: '16' }), { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` }));
    const files = rendered.filter((r) => r.name.startsWith('etc/cni/multus/net.d/')).map((r) => JSON.parse(r.text) as { name: string; ipam: { rangeStart: string } });
    expect(files).toHaveLength(16);
    const nad = parse(rendered.find((r) => r.name === 'nad/userspace-ovs-net.yaml')!.text);
    expect(new Set(files.map((f) => f.name))).toEqual(new Set([nad.metadata.name]));
    expect(new Set(files.map((f) => f.ipam.rangeStart)).size).toBe(16);
  });

  it("the hosts provider: an inventory of more hosts than blocks is refused with --kubernetes, naming the field and the fix", () => {
    const host = (i: number) => ({ name: `lab${i}`, address: `192.0.2.${i}`, port: 22, user: 'root', keyFile: '/k', hostKeys: [], role: i === 1 ? 'control-plane' : 'worker', nic: { pci: '0000:03:00.0' }, nodeIp: `10.0.0.${i}` });
    const inventory = (n: number) => ({ file: '/lab/inventory.yaml', hosts: Array.from({ length: n }, (_, i) => host(i + 1)) }) as unknown as Inventory;
    expect(() => requireNodeIps(inventory(16), '--kubernetes 1.36')).not.toThrow();
    expect(() => requireNodeIps(inventory(17), '--kubernetes 1.36')).toThrow(
      new UsageError(
        '--inventory /lab/inventory.yaml: 1 problem(s):\n' +
          '  field hosts: 17 hosts; with --kubernetes 1.36 each node gets its own 14 addresses of the vhost-user network 10.56.217.0/24, enough for 16 nodes; list at most 16 hosts',
      ),
    );
  });
});

describe("what thin multus needs: a NAD without spec, and on each node a file of the NAD's name in multus' configuration directory", () => {
  it('the NAD has no spec, and each node file lands in the directory multus reads by default', () => {
    // The default directory, as read (multus-cni@00adf224:pkg/types/conf.go defaultConfDir); the DaemonSet sets no other (addons.test.ts).
    expect(MULTUS_CONF_DIR).toBe('/etc/cni/multus/net.d');
    expect(netConfPath(NAD_NAME)).toBe(`${MULTUS_CONF_DIR}/${NAD_NAME}.conf`);
    const rendered = renderManifests(manifestInput(kubernetesContext({ nodes: '2' }), { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'0'.repeat(64)}` }));
    // GetCNIConfig reads the file only when the NAD's spec equals the empty spec: no config at all.
    expect(parse(rendered.find((r) => r.name === 'nad/userspace-ovs-net.yaml')!.text).spec).toBeUndefined();
  });

  it('cni-netconf.sh writes the file whole, where the stand-in lookup finds it, beside another network, and check sees it in place', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpdkci-netconf-'));
    const dir = join(root, MULTUS_CONF_DIR);
    mkdirSync(dir, { recursive: true });
    // Another network of the host's, named before ours: the lookup is by "name", not by file name.
    writeFileSync(join(dir, '00-other.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'other', type: 'bridge' }));
    const file = join(root, netConfPath(NAD_NAME));
    const text = netConfText(NAD_NAME, 'br-dpdk0', 2);
    const run = (mode: string, input: string, path = file) => execa('bash', [SCRIPT, mode, path], { input, reject: false });
    expect((await run('check', text)).exitCode).toBe(3);
    const applied = await run('apply', text);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['00-other.conf', `${NAD_NAME}.conf`]);
    expect(multusLookup(dir, NAD_NAME)).toBe(`${NAD_NAME}.conf`);
    expect(JSON.parse(readFileSync(file, 'utf8')).ipam).toMatchObject({ rangeStart: '10.56.217.30', rangeEnd: '10.56.217.43' });
    expect((await run('check', text)).exitCode).toBe(0);
    expect((await run('check', netConfText(NAD_NAME, 'br-dpdk0', 3))).exitCode).toBe(3);
    // Nothing on stdin writes nothing, and a path multus would not read as a network is refused.
    expect((await run('apply', '')).stderr).toMatch(/no configuration on standard input/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect((await run('apply', text, join(dir, 'x.json'))).stderr).toMatch(/is not an absolute path of a \.conf file/);
    // And the stand-in does fail the way multus does: with the name not there, or a broken file first in order.
    expect(() => multusLookup(dir, 'userspace-ovs-net-2')).toThrow(/no network available in the name userspace-ovs-net-2/);
    writeFileSync(join(dir, '01-broken.conf'), '{');
    expect(() => multusLookup(dir, NAD_NAME)).toThrow();
  });
});

describe("the smoke check's address: the pod on node01 leases from node01's block", () => {
  // A stand-in of the plugin's userspace/configuration-data annotation, in the shape it writes
  // (intel/userspace-cni-network-plugin@3e14ba36:pkg/annotations/annotations.go, json.MarshalIndent of
  // pkg/types/types.go ConfigurationData, whose ipResult is the IPAM result); not an annotation a plugin wrote.
  const annotation = (address: string) =>
    `[${JSON.stringify(
      {
        containerId: 'c0ffee',
        ifName: 'net1',
        name: NAD_NAME,
        config: { engine: 'ovs-dpdk', iftype: 'vhostuser', netType: 'interface', vhost: { mode: 'server' } },
        ipResult: { cniVersion: '1.0.0', interfaces: [{ name: 'net1', sandbox: '/var/run/netns/x' }], ips: [{ interface: 0, address }], routes: [{ dst: '0.0.0.0/0' }], dns: {} },
      },
      null,
      4,
    )}]`;
  const block = vhostUserRange(1);
  const run = (input: string) => execa('bash', [SMOKE, 'address', block.rangeStart, block.rangeEnd], { input, reject: false });

  it('passes on an address of the block, and fails, naming both, on another node\'s or none', async () => {
    const ok = await run(annotation('10.56.217.29/24'));
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('address 10.56.217.29 within 10.56.217.16-10.56.217.29');
    const other = await run(annotation('10.56.217.30/24'));
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toMatch(/expected the pod's address within 10\.56\.217\.16-10\.56\.217\.29, this node's own block, found 10\.56\.217\.30/);
    const none = await run('[{"containerId": "c0ffee", "ipResult": {"ips": []}}]');
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/expected an address in the pod's userspace\/configuration-data/);
  });
});
