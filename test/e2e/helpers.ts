import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { afterAll } from 'vitest';
import { clusterPaths } from '../../src/core/paths.js';
import { nodeProcesses } from '../../providers/qemu/provider.js';

export const BIN = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
export const ARTIFACTS = process.env.ARTIFACTS ?? join(__dirname, '..', '..', '_artifacts');

/** The real CLI, as a user runs it. */
export function dpdkci(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return execa('node', [BIN, ...args], {
    reject: false,
    env: { ...process.env, CI: 'true', ...options.env },
    timeout: options.timeoutMs ?? 20 * 60_000,
    all: true,
  });
}

export function dpdkciChild(args: string[]): ResultPromise {
  return execa('node', [BIN, ...args], { reject: false, env: { ...process.env, CI: 'true' }, all: true, buffer: true });
}

/** Runs a shell command on a node through `dpdkci ssh` and returns stdout; fails the test on a non-zero exit. */
export async function onNode(prefix: string, node: string, command: string): Promise<string> {
  const r = await dpdkci(['ssh', '--prefix', prefix, node, '--', command], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`${node}: \`${command}\` exited ${r.exitCode}:\n${r.all}`);
  return String(r.stdout).trim();
}

export function qemuPids(prefix: string): number[] {
  return [...nodeProcesses(prefix).values()];
}

export function stateDir(prefix: string): string {
  return clusterPaths(prefix).dir;
}

export function stateExists(prefix: string): boolean {
  return existsSync(stateDir(prefix));
}

/** Keeps the console logs of a cluster whose test failed (the cluster itself is removed). */
export async function keepLogs(prefix: string): Promise<void> {
  const dir = join(ARTIFACTS, prefix);
  mkdirSync(dir, { recursive: true });
  await execa('bash', ['-c', `cp -r ${JSON.stringify(join(stateDir(prefix), 'nodes'))} ${JSON.stringify(dir)} 2>/dev/null; true`]);
}

/**
 * The part of a failed command's stderr that says what failed: every line naming a failure, then the last
 * lines; long tool output in between (testpmd's) would push the cause out of a CI log's tail.
 */
export function failureSummary(stderr: string, tail = 25): string {
  const lines = stderr.split('\n');
  const key = lines.filter((l) => /FAIL|error:|failed/.test(l)).slice(0, 20);
  return [...key, '…', ...lines.slice(-tail)].join('\n');
}

export const KEEP = process.env.DPDKCI_E2E_KEEP === 'true';

/**
 * One shared cluster for a describe block: a check wrapped in guard() that fails marks the run, so that
 * afterAll keeps the cluster's console logs in _artifacts/ before removing the cluster (kept with
 * DPDKCI_E2E_KEEP=true).
 */
export function sharedCluster(prefix: string) {
  let failed = false;
  afterAll(async () => {
    if (failed) await keepLogs(prefix);
    if (!KEEP) await dpdkci(['down', '--prefix', prefix, '--force']);
  });
  return {
    markFailed: () => {
      failed = true;
    },
    guard: (fn: () => Promise<void>) => async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    },
  };
}

/** A cluster a single test makes: removed after the block, whatever happened. */
export function removedAfterAll(prefix: string): void {
  afterAll(async () => {
    await dpdkci(['down', '--prefix', prefix, '--force']);
  });
}
