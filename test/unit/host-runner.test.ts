import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveClusterOptions } from '../../src/core/config.js';
import { CommandError } from '../../src/core/errors.js';
import { clusterPaths } from '../../src/core/paths.js';
import { createLocalRunner } from '../../src/exec/local-runner.js';
import type { Runner, RunOptions } from '../../src/exec/runner.js';
import { prepareCluster } from '../../providers/qemu/steps/prepare-cluster.js';
import type { UpContext } from '../../src/steps/context.js';
import { placesFrom } from '../../src/core/places.js';

/** The host's runner, recorded: every command still runs for real, and the test sees each one. */
function recordedHost(): Runner & { calls: string[][] } {
  const local = createLocalRunner();
  const calls: string[][] = [];
  return { host: 'host', calls, run: (argv: readonly string[], options?: RunOptions) => (calls.push([...argv]), local.run(argv, options)), close: async () => {} };
}

describe('host commands on the runner seam', () => {
  it('a local runner returns what the command said, and a failure as a CommandError naming the host and the command', async () => {
    const host = createLocalRunner();
    expect(await host.run(['sh', '-c', 'cat; echo err >&2'], { stdin: 'in' })).toEqual({ stdout: 'in', stderr: 'err', exitCode: 0 });
    expect((await host.run(['sh', '-c', 'exit 3'], { check: false })).exitCode).toBe(3);
    const error = await host.run(['sh', '-c', 'echo no >&2; exit 4']).catch((e) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ host: 'host', code: 4, argv: ['sh', '-c', 'echo no >&2; exit 4'] });
  });

  it("prepare cluster makes the cluster's key pair and each node's host key through the host's runner, where a test sees them", async () => {
    const env = { DPDKCI_STATE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-host-runner-')) };
    const options = resolveClusterOptions({ prefix: 'seen', nodes: '2', randomPorts: true, kubernetes: 'none', registry: false }, env, { memAvailableMiB: 1 << 20 });
    const host = recordedHost();
    const paths = clusterPaths('seen', placesFrom(env));
    const ctx = {
      options,
      places: placesFrom(env),
      host,
      paths,
      owner: { pid: 1, startTicks: 1, how: 'session' },
      accel: { accel: 'tcg' },
      image: { hash: 'h', disk: '/images/disk.qcow2', kernel: '/images/vmlinuz', initrd: '/images/initrd', kernelRelease: '6.1.0', pvhKernel: '/images/vmlinux' },
    } as unknown as UpContext;
    await prepareCluster.apply(ctx, { update: () => {} } as never);
    expect(host.calls.map((c) => [c[0], c.at(-1)])).toEqual([
      ['ssh-keygen', paths.privateKey],
      ['ssh-keygen', join(paths.nodesDir, 'node01', 'seed', 'ssh_host_ed25519_key')],
      ['ssh-keygen', join(paths.nodesDir, 'node02', 'seed', 'ssh_host_ed25519_key')],
    ]);
    expect(statSync(paths.privateKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(paths.knownHosts, 'utf8')).toMatch(/^dpdkci-seen-node02 ssh-ed25519 /m);
  });
});
