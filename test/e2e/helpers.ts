import { join } from 'node:path';
import { mkdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { afterAll, expect } from 'vitest';
import { clusterPaths } from '../../src/core/paths.js';
import { nodeProcesses } from '../../providers/qemu/provider.js';
import { placesFrom } from '../../src/core/places.js';

export const BIN = join(__dirname, '..', '..', 'bin', 'dpdkci.js');
export const ARTIFACTS = process.env.ARTIFACTS ?? join(__dirname, '..', '..', '_artifacts');

/**
 * The environment of every dpdkci this suite runs. Kubernetes is off unless a test opts in with `--kubernetes`
 * on its command line (a flag wins over the variable): `auto` would bring Kubernetes up wherever the lock is
 * complete and the network works, and sizes and budgets would change with the machine.
 */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, CI: 'true', DPDKCI_KUBERNETES: 'none', ...env };
}

/** The real CLI, as a user runs it. */
export function dpdkci(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return execa('node', [BIN, ...args], {
    reject: false,
    env: cliEnv(options.env),
    timeout: options.timeoutMs ?? 20 * 60_000,
    all: true,
  });
}

export function dpdkciChild(args: string[]): ResultPromise {
  return execa('node', [BIN, ...args], { reject: false, env: cliEnv(), all: true, buffer: true });
}

/** Runs a shell command on a node through `dpdkci ssh` and returns stdout; fails the test on a non-zero exit. */
export async function onNode(prefix: string, node: string, command: string): Promise<string> {
  const r = await dpdkci(['ssh', '--prefix', prefix, node, '--', command], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`${node}: \`${command}\` exited ${r.exitCode}:\n${r.all}`);
  return String(r.stdout).trim();
}

/** One command's result in a batched read: its stdout, trimmed as onNode trims it, and its exit code. */
export interface NodeRead {
  out: string;
  code: number;
}

/**
 * The shell script of a batched read: each command in its own subshell, in order, with stdin closed; its
 * stdout between two marker lines, the closing one with its exit code. `mark` must occur in no output.
 */
export function nodeReadScript(commands: readonly string[], mark: string): string {
  return commands.map((c, i) => `printf '%s\\n' '${mark} ${i} begin'; (${c}\n) </dev/null; printf '\\n%s %s\\n' '${mark} ${i} end' "$?"`).join('\n');
}

/** Takes nodeReadScript's output apart; undefined for a command whose markers are missing. */
export function parseNodeRead(stdout: string, count: number, mark: string): (NodeRead | undefined)[] {
  return Array.from({ length: count }, (_, i) => {
    const m = new RegExp(`^${mark} ${i} begin\\n([\\s\\S]*?)\\n${mark} ${i} end (\\d+)$`, 'm').exec(stdout);
    return m ? { out: (m[1] as string).trim(), code: Number(m[2]) } : undefined;
  });
}

/**
 * Several reads on one node through one `dpdkci ssh`, instead of a Node start and an SSH handshake per
 * command (onNode). Keys name the commands; every command runs, whatever the others exited.
 */
export async function readNode<K extends string>(prefix: string, node: string, commands: Record<K, string>): Promise<Record<K, NodeRead>> {
  const keys = Object.keys(commands) as K[];
  const mark = `dpdkci-read-${randomBytes(8).toString('hex')}`;
  const r = await dpdkci(['ssh', '--prefix', prefix, node, '--', nodeReadScript(keys.map((k) => commands[k]), mark)], { timeoutMs: 300_000 });
  const reads = parseNodeRead(String(r.stdout), keys.length, mark);
  const lost = keys.filter((_, i) => reads[i] === undefined);
  if (lost.length > 0) throw new Error(`${node}: dpdkci ssh exited ${r.exitCode} before ${lost.map((k) => `\`${commands[k]}\``).join(', ')} reported:\n${r.all}`);
  return Object.fromEntries(keys.map((k, i) => [k, reads[i]])) as Record<K, NodeRead>;
}

/** readNode's outputs; like onNode, fails the test when a command exits non-zero, naming each that did. */
export async function readNodeOk<K extends string>(prefix: string, node: string, commands: Record<K, string>): Promise<Record<K, string>> {
  const reads = await readNode(prefix, node, commands);
  const failed = (Object.keys(reads) as K[]).filter((k) => reads[k].code !== 0);
  if (failed.length > 0) throw new Error(failed.map((k) => `${node}: \`${commands[k]}\` exited ${reads[k].code}:\n${reads[k].out}`).join('\n'));
  return Object.fromEntries((Object.keys(reads) as K[]).map((k) => [k, reads[k].out])) as Record<K, string>;
}

export function qemuPids(prefix: string): number[] {
  return [...nodeProcesses(prefix).values()];
}

export function stateDir(prefix: string): string {
  return clusterPaths(prefix, placesFrom(process.env)).dir;
}

export function stateExists(prefix: string): boolean {
  return existsSync(stateDir(prefix));
}

/**
 * Keeps what explains a failure, at the moment it happened: `dpdkci logs` of the cluster (console, journal,
 * OVS and DPDK logs per node) into _artifacts/<prefix>/<label>/. Later checks may change or remove the
 * cluster, so afterwards would be too late.
 */
export async function keepLogs(prefix: string, label = 'failure'): Promise<void> {
  const dir = join(ARTIFACTS, prefix, label.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 80));
  mkdirSync(dir, { recursive: true });
  if (stateExists(prefix)) await dpdkci(['logs', dir, '--prefix', prefix], { timeoutMs: 5 * 60_000 });
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
 * One shared cluster for a describe block, removed after it (kept with DPDKCI_E2E_KEEP=true). A check
 * wrapped in guard() that fails, or an up that calls markFailed, keeps the cluster's logs in _artifacts/
 * first.
 */
export function sharedCluster(prefix: string) {
  afterAll(async () => {
    if (!KEEP) await dpdkci(['down', '--prefix', prefix, '--force']);
  });
  return {
    markFailed: async (label = 'up') => {
      await keepLogs(prefix, label);
    },
    guard: (fn: () => Promise<void>) => async () => {
      try {
        await fn();
      } catch (e) {
        await keepLogs(prefix, expect.getState().currentTestName ?? 'check');
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

/**
 * Debian's build of the distribution registry (docker-registry) on a free port of the host's loopback, with
 * a throwaway store. Nodes reach it as 10.0.2.2:PORT through QEMU's user network.
 */
export async function startRegistry(): Promise<{ port: number; base: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'dpdkci-registry-'));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const config = join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = execa('docker-registry', ['serve', config], { reject: false, all: true });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await fetch(`${base}/v2/`).then((r) => r.ok).catch(() => false)); i++) await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    base,
    stop: async () => {
      child.kill();
      await child;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
