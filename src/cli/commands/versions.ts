import { ExitCode } from '../../core/errors.js';
import { clusterArtefacts, loadLock, LOCK_FILE } from '../../versions/lock.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';

/** `dpdkci versions`: the lock file as a table, with what is still unpinned. */
export async function runVersions(flags: { output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const lock = loadLock();
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ file: LOCK_FILE, ...lock }, null, 2));
    return ExitCode.ok;
  }
  const rows: string[][] = [['COMPONENT', 'VERSION', 'ARTEFACT', 'PIN']];
  for (const [minor, v] of Object.entries(lock.kubernetes.versions)) {
    const name = `kubernetes ${minor}${minor === lock.kubernetes.default ? ' (default)' : ''}`;
    for (const f of v.files) rows.push([name, v.release, f.name, f.sha256 ? `sha256:${f.sha256.slice(0, 12)}…` : 'NOT PINNED']);
    for (const m of v.images) rows.push([name, v.release, m.ref, m.digest ? `${m.digest.slice(0, 19)}…` : 'NOT PINNED']);
  }
  for (const [addon, a] of Object.entries(lock.addons)) {
    for (const f of a.files) rows.push([addon, a.version, f.name, f.sha256 ? `sha256:${f.sha256.slice(0, 12)}…` : 'NOT PINNED']);
    for (const m of a.images) rows.push([addon, a.version, m.ref, m.digest ? `${m.digest.slice(0, 19)}…` : 'NOT PINNED']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  ctx.out(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n'));
  const unpinned = clusterArtefacts(lock, lock.kubernetes.default).unpinned.length;
  ctx.out(`\n${LOCK_FILE}: ${unpinned} artefact(s) of the default cluster not pinned yet`);
  return ExitCode.ok;
}
