import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createFakeRunner } from '../../src/exec/fake-runner.js';
import { applyManifests, parseApplied, type SyncChange } from '../../src/sync/sync.js';

/**
 * `sync --manifests DIR`: the directory goes to node01 as a tar and is applied there with the cluster's
 * kubectl (sync.sh manifests, run here for real with a kubectl that records what it was asked); what kubectl
 * says it changed is what sync reports.
 */
describe('sync --manifests', () => {
  it("reads kubectl apply's lines as changes", () => {
    expect(parseApplied('deployment.apps/virt-operator configured\nnamespace/kubevirt unchanged\nWarning: x\nservice/a created\n')).toEqual([
      { node: 'cluster', kind: 'manifests', name: 'deployment.apps/virt-operator', outcome: 'configured' },
      { node: 'cluster', kind: 'manifests', name: 'namespace/kubevirt', outcome: 'unchanged' },
      { node: 'cluster', kind: 'manifests', name: 'service/a', outcome: 'created' },
    ]);
  });

  it('sends the directory as a tar on stdin to sync.sh manifests on node01', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpdkci-manifests-'));
    writeFileSync(join(dir, 'a.yaml'), 'kind: Namespace\n');
    const runner = createFakeRunner('node01');
    runner.on(/sync\.sh manifests/, { stdout: 'namespace/a created\n' });
    const changes: SyncChange[] = [];
    await applyManifests({ name: 'node01', role: 'control-plane', address: '', runner }, dir, (c) => changes.push(c), '--manifests');
    expect(runner.calls[0]?.slice(-1)).toEqual(['manifests']);
    const listed = await execa('tar', ['-tf', '-'], { input: runner.inputs[0] as unknown as Buffer });
    expect(listed.stdout.split('\n')).toContain('./a.yaml');
    expect(changes).toEqual([{ node: 'cluster', kind: 'manifests', name: 'namespace/a', outcome: 'created' }]);
  });

  it('sync.sh manifests applies a plain directory with -R -f, a kustomization with -k', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpdkci-sync-sh-'));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'kubectl'), `#!/bin/sh\necho "kubectl $*" | sed "s|/var/tmp/dpdkci-manifests[^ ]*|DIR|"\n`, { mode: 0o755 });
    const script = join(__dirname, '..', '..', 'scripts', 'node', 'sync.sh');
    const tar = async (files: Record<string, string>) => {
      const d = mkdtempSync(join(root, 'm-'));
      for (const [n, t] of Object.entries(files)) writeFileSync(join(d, n), t);
      return (await execa('tar', ['-C', d, '-cf', '-', '.'], { encoding: 'buffer' })).stdout;
    };
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DPDKCI_ADMIN_CONF: join(root, 'admin.conf') };
    writeFileSync(join(root, 'admin.conf'), '');
    const plain = await execa('bash', [script, 'manifests'], { env, input: await tar({ 'a.yaml': 'x: 1\n' }), reject: false });
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`kubectl --kubeconfig ${join(root, 'admin.conf')} apply -R -f DIR`);
    const kust = await execa('bash', [script, 'manifests'], { env, input: await tar({ 'kustomization.yaml': 'resources: []\n' }), reject: false });
    expect(kust.stdout).toBe(`kubectl --kubeconfig ${join(root, 'admin.conf')} apply -k DIR`);
  });
});
