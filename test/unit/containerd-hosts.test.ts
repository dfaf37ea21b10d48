import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ClusterRecord } from '../../src/core/cluster.js';
import { runPipeline } from '../../src/core/pipeline.js';
import { createProgress } from '../../src/core/progress.js';
import { parseRegistryMirrors } from '../../src/core/registry-mirrors.js';
import { createFakeRunner, type FakeRunner } from '../../src/exec/fake-runner.js';
import { containerdHostsFiles } from '../../src/kubernetes/containerd-hosts.js';
import { providerOf } from '../../src/provider/registry.js';
import type { UpContext } from '../../src/steps/context.js';
import { containerdRegistryMirrors, mirrorFiles } from '../../src/steps/kubernetes/index.js';
import { urlAsGuestSees } from '../../providers/qemu/guest-address.js';
import { kubernetesContext } from '../fixtures/kubernetes-context.js';

const asGiven = (url: string) => url;

/** The TOML as a TOML parser reads it (Python's tomllib, where there is one), so that quoting is proven, not assumed. */
function parsedToml(text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], { input: text, encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : { unparsed: r.stderr };
}
const hasTomllib = spawnSync('python3', ['-c', 'import tomllib']).status === 0;

describe("containerd's hosts.toml for --registry-mirror", () => {
  it.each([
    ['registry.k8s.io=http://127.0.0.1:5000', '/etc/containerd/certs.d/registry.k8s.io/hosts.toml', 'https://registry.k8s.io', 'http://127.0.0.1:5000'],
    ['quay.io=https://harbor.lab/v2/quay-proxy', '/etc/containerd/certs.d/quay.io/hosts.toml', 'https://quay.io', 'https://harbor.lab/v2/quay-proxy'],
    // docker.io's registry answers at registry-1.docker.io, as dpdkci's own look-ups use it.
    ['docker.io=https://mirror.gcr.io', '/etc/containerd/certs.d/docker.io/hosts.toml', 'https://registry-1.docker.io', 'https://mirror.gcr.io'],
    // A host with a port is its own namespace, named host:port on Unix (containerd docs/hosts.md).
    ['my.registry:5000=http://10.1.2.3:5000', '/etc/containerd/certs.d/my.registry:5000/hosts.toml', 'https://my.registry:5000', 'http://10.1.2.3:5000'],
  ])('%s: %s, server %s, host %s pull+resolve', (flag, path, server, host) => {
    const [file] = containerdHostsFiles(parseRegistryMirrors([flag], '--registry-mirror'), asGiven);
    expect(file?.path).toBe(path);
    expect(file?.text).toContain(`server = "${server}"\n`);
    expect(file?.text).toContain(`[host."${host}"]\n  capabilities = ["pull", "resolve"]\n`);
    if (hasTomllib) expect(parsedToml(file?.text ?? '')).toEqual({ server, host: { [host]: { capabilities: ['pull', 'resolve'] } } });
  });

  it('one file per mirrored host; none without mirrors', () => {
    const mirrors = parseRegistryMirrors(['registry.k8s.io=http://127.0.0.1:5000', 'quay.io=http://127.0.0.1:5001'], '--registry-mirror');
    expect(containerdHostsFiles(mirrors, asGiven).map((f) => f.path)).toEqual(['/etc/containerd/certs.d/registry.k8s.io/hosts.toml', '/etc/containerd/certs.d/quay.io/hosts.toml']);
    expect(containerdHostsFiles([], asGiven)).toEqual([]);
  });

  it.skipIf(!hasTomllib)('a URL with characters TOML must escape stays one string', () => {
    const [file] = containerdHostsFiles([{ host: 'quay.io', url: 'https://m.lab/a"b\\c' }], asGiven);
    expect(parsedToml(file?.text ?? '')).toMatchObject({ host: { 'https://m.lab/a"b\\c': { capabilities: ['pull', 'resolve'] } } });
  });

  it('a host that could leave the directory is refused', () => {
    expect(() => containerdHostsFiles([{ host: '../etc', url: 'http://x' }], asGiven)).toThrow(/not checked at the CLI/);
  });
});

describe("a mirror's URL as the nodes reach it (the provider decides)", () => {
  it.each([
    ['http://127.0.0.1:5000', 'http://10.0.2.2:5000'],
    ['http://localhost:5000/v2/proxy', 'http://10.0.2.2:5000/v2/proxy'],
    ['https://localhost', 'https://10.0.2.2'],
    ['http://127.0.0.10:5000', 'http://127.0.0.10:5000'],
    ['https://harbor.lab:8443/p', 'https://harbor.lab:8443/p'],
    ['http://localhost.lab:5000', 'http://localhost.lab:5000'],
  ])('QEMU nodes: %s is %s', (url, seen) => {
    expect(urlAsGuestSees(url)).toBe(seen);
    expect(providerOf({ provider: 'qemu' } as ClusterRecord).registryMirrorUrl(url)).toBe(seen);
  });

  it("hosts keep the URL as given: their loopback is their own", () => {
    expect(providerOf({ provider: 'hosts' } as ClusterRecord).registryMirrorUrl('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
  });
});

// Sequencing only (recording runners): which node gets which file, and that a node holding it gets nothing.
describe('the containerd registry mirrors step', () => {
  function ctxWith(mirrors: string[]): { ctx: UpContext; runners: FakeRunner[] } {
    const ctx = kubernetesContext({ nodes: '2' });
    ctx.kubernetes = { ...(ctx.kubernetes as NonNullable<UpContext['kubernetes']>), registryMirrors: parseRegistryMirrors(mirrors, '--registry-mirror') };
    const runners = [createFakeRunner('node01'), createFakeRunner('node02')];
    ctx.nodes = runners.map((runner, i) => ({ name: `node0${i + 1}`, role: i ? 'worker' : 'control-plane', address: '', runner }));
    ctx.progress = createProgress({ stream: { write: () => true }, live: false });
    return { ctx, runners };
  }

  it('writes the QEMU view of a loopback mirror on every node that lacks it, and only there', async () => {
    const { ctx, runners } = ctxWith(['registry.k8s.io=http://127.0.0.1:5000']);
    const [n1, n2] = runners as [FakeRunner, FakeRunner];
    const [file] = mirrorFiles(ctx);
    expect(file?.text).toContain('[host."http://10.0.2.2:5000"]');
    n1.on(/^cat /, { stdout: file?.text ?? '' });
    n2.on(/^cat /, { exitCode: 1, stderr: 'No such file or directory' });
    const result = await runPipeline([containerdRegistryMirrors], ctx, ctx.progress);
    expect(result.applied).toEqual(['containerd registry mirrors']);
    expect(n1.calls).toEqual([['cat', '/etc/containerd/certs.d/registry.k8s.io/hosts.toml']]);
    expect(n2.calls[1]).toEqual(['install', '-D', '-m', '0644', '/dev/stdin', '/etc/containerd/certs.d/registry.k8s.io/hosts.toml']);
    expect(n2.inputs[1]).toBe(file?.text);
  });

  it('is not part of up without mirrors', () => {
    const { ctx } = ctxWith([]);
    expect(containerdRegistryMirrors.enabled?.(ctx)).toBe(false);
  });
});
