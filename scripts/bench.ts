/**
 * npm run bench: image build cold and warm, boot-to-SSH per node, `up` wall time for 1 and 2 nodes,
 * host RSS per node, `up --dpdk` for 1 and 2 nodes with packets per second on every path and the
 * vhost-user/kernel ratio, with the accelerator used; then the checked `up --dpdk` saved as a snapshot
 * (time, size on disk, host RSS of a node before and after) and restored with `up --from-snapshot`, against
 * the cold `up --dpdk` of the same run. Prints a Markdown table for the README.
 *
 *   npm run bench                # everything (the cold build takes a few minutes)
 *   npm run bench -- --skip-cold # reuse the cached image
 *   npm run bench -- --skip-dpdk # leave out `up --dpdk`, the traffic figures and the snapshots
 *   npm run bench -- --skip-plain # leave out `up` without --dpdk
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../src/core/paths.js';

const BIN = join(PROJECT_ROOT, 'bin', 'dpdkci.js');
const args = new Set(process.argv.slice(2));
const rows: [string, string, string][] = [];

async function dpdkci(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const began = performance.now();
  const r = await execa('node', [BIN, ...argv], { reject: false, env: { ...process.env, CI: 'true', ...env }, all: true });
  const seconds = (performance.now() - began) / 1000;
  if (r.exitCode !== 0) throw new Error(`dpdkci ${argv.join(' ')} failed (exit ${r.exitCode}):\n${r.all}`);
  return { seconds, stdout: String(r.stdout) };
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const s = (n: number) => `${n.toFixed(1)} s`;

async function upAndMeasure(nodes: number) {
  const prefix = `bench${nodes}`;
  await dpdkci(['down', '--prefix', prefix, '--force']);
  const up = await dpdkci(['up', '--prefix', prefix, '--nodes', String(nodes), '-o', 'json']);
  const result = JSON.parse(up.stdout) as { accelerator: string; bootSeconds: Record<string, number>; nodes: { name: string; pid: number }[] };
  const rss = result.nodes.map((n) => `${n.name} ${rssMiB(n.pid)} MiB`).join(', ');
  rows.push([`\`up\`, ${nodes} node(s), wall time (image cached)`, s(up.seconds), result.accelerator]);
  rows.push([`boot to SSH, ${nodes} node(s) booting together`, Object.entries(result.bootSeconds).map(([n, t]) => `${n} ${t} s`).join(', '), result.accelerator]);
  rows.push([`host RSS per node, ${nodes} node(s), after boot`, rss, result.accelerator]);
  const down = await dpdkci(['down', '--prefix', prefix]);
  rows.push([`\`down\`, ${nodes} node(s) (ACPI power-off)`, s(down.seconds), result.accelerator]);
}

if (!args.has('--skip-cold')) {
  const cache = mkdtempSync(join(tmpdir(), 'dpdkci-bench-cache-'));
  try {
    const cold = await dpdkci(['provision'], { DPDKCI_CACHE_DIR: cache });
    rows.push(['image build, cold (debootstrap + packages + disk)', s(cold.seconds), '-']);
    const warm = await dpdkci(['provision'], { DPDKCI_CACHE_DIR: cache });
    rows.push(['image build, warm (cache hit)', s(warm.seconds), '-']);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
} else {
  await dpdkci(['provision']);
  const warm = await dpdkci(['provision']);
  rows.push(['image build, warm (cache hit)', s(warm.seconds), '-']);
}
/** The steps of an `up` that took a second or more, longest first, and the rest together. */
function whereTimeWent(timings: { name: string; seconds: number }[]): string {
  const big = timings.filter((t) => t.seconds >= 1).sort((a, b) => b.seconds - a.seconds);
  const rest = timings.filter((t) => t.seconds < 1).reduce((sum, t) => sum + t.seconds, 0);
  return [...big.map((t) => `${t.name} ${t.seconds.toFixed(1)} s`), `${timings.length - big.length} other steps ${rest.toFixed(1)} s`].join(', ');
}

async function dpdkUpAndMeasure(nodes: number) {
  const prefix = `benchd${nodes}`;
  await dpdkci(['down', '--prefix', prefix, '--force']);
  const up = await dpdkci(['up', '--prefix', prefix, '--nodes', String(nodes), '--dpdk', '-o', 'json']);
  const result = JSON.parse(up.stdout) as { accelerator: string; timings: { name: string; seconds: number }[]; check: { paths: { name: string; kind: string; pps: number }[] } };
  const accel = result.accelerator;
  rows.push([`\`up --dpdk\`, ${nodes} node(s), ready and checked (image cached)`, s(up.seconds), accel]);
  rows.push([`\`up --dpdk\`, ${nodes} node(s): where the time went`, whereTimeWent(result.timings), accel]);
  if (!result.check.paths.every((p) => p.pps > 0)) throw new Error(`up --dpdk's check saw a path without traffic:\n${up.stdout}`);
  // The rates come from \`dpdkci check\` (6 s per path), not from up's shorter closing check (3 s).
  const check = await dpdkci(['check', '--prefix', prefix, ...(nodes === 1 ? ['--compare-kernel'] : []), '-o', 'json']);
  const report = JSON.parse(check.stdout) as { paths: { name: string; kind: string; pps: number }[]; vhostToKernelRatio?: number };
  for (const p of report.paths) rows.push([`pps, ${p.name} (64 B, \`dpdkci check\`)`, p.pps.toLocaleString('en'), accel]);
  if (nodes === 1) rows.push(['vhost-user / kernel path ratio', `${report.vhostToKernelRatio ?? '-'}x`, accel]);
  await snapshotAndRestore(prefix, nodes, up.seconds, accel);
}

/** Host RSS of each node of a cluster, from `status -o json`. */
async function clusterRss(prefix: string): Promise<string> {
  const status = JSON.parse((await dpdkci(['status', '--prefix', prefix, '-o', 'json'])).stdout) as { nodes: { name: string; pid: number }[] };
  return status.nodes.map((n) => `${n.name} ${rssMiB(n.pid)} MiB`).join(', ');
}

/** The checked cluster saved, removed, and restored under a new prefix; the restore against the cold up. */
async function snapshotAndRestore(prefix: string, nodes: number, coldSeconds: number, accel: string) {
  const env = { DPDKCI_SNAPSHOT_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-bench-snapshots-')) };
  try {
    rows.push([`host RSS per node, \`up --dpdk\`, ${nodes} node(s), after its check`, await clusterRss(prefix), accel]);
    const save = await dpdkci(['snapshot', 'save', 'bench', '--prefix', prefix, '-o', 'json'], env);
    const saved = JSON.parse(save.stdout) as { bytes: number; saveSeconds: number };
    rows.push([`\`snapshot save\`, ${nodes} node(s): wall time, size on disk`, `${s(save.seconds)}, ${(saved.bytes / 2 ** 30).toFixed(2)} GiB`, accel]);
    await dpdkci(['down', '--prefix', prefix]);
    const restored = `${prefix}r`;
    await dpdkci(['down', '--prefix', restored, '--force']);
    const up = await dpdkci(['up', '--prefix', restored, '--nodes', String(nodes), '--dpdk', '--from-snapshot', 'bench', '-o', 'json'], env);
    const result = JSON.parse(up.stdout) as { timings: { name: string; seconds: number }[]; restored: { snapshot: string } | null };
    if (!result.restored) throw new Error(`up --from-snapshot did not restore:\n${up.stdout}`);
    const steps = result.timings.reduce((sum, t) => sum + t.seconds, 0);
    rows.push([`\`up --dpdk --from-snapshot\`, ${nodes} node(s), re-keyed and reachable: wall time (its steps)`, `${s(up.seconds)} (${s(steps)})`, accel]);
    rows.push([`\`up --dpdk --from-snapshot\`, ${nodes} node(s): where the time went`, result.timings.map((t) => `${t.name} ${t.seconds.toFixed(1)} s`).join(', '), accel]);
    rows.push([`cold \`up --dpdk\` / restored, ${nodes} node(s)`, `${(coldSeconds / up.seconds).toFixed(1)}x`, accel]);
    rows.push([`host RSS per node, restored, ${nodes} node(s)`, await clusterRss(restored), accel]);
    // The restored cluster must carry traffic as the saved one did.
    await dpdkci(['check', '--prefix', restored, '--seconds', '3']);
    await dpdkci(['down', '--prefix', restored]);
  } finally {
    rmSync(env.DPDKCI_SNAPSHOT_DIR, { recursive: true, force: true });
  }
}

if (!args.has('--skip-plain')) {
  await upAndMeasure(1);
  await upAndMeasure(2);
}
if (!args.has('--skip-dpdk')) {
  await dpdkUpAndMeasure(1);
  await dpdkUpAndMeasure(2);
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${new Date().toISOString().slice(0, 10)}`;
console.log(`\nmachine: ${machine}\n`);
console.log('| measurement | result | accelerator |\n|---|---|---|');
for (const [what, value, accel] of rows) console.log(`| ${what} | ${value} | ${accel} |`);
