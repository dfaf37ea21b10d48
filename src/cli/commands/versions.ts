import { ExitCode } from '../../core/errors.js';
import { formatTable } from '../../core/table.js';
import { clusterArtefacts, loadLock, lockFile, type Component } from '../../versions/lock.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';

/** `dpdkci versions`: the lock file as a table, with what is still unpinned. */
export async function runVersions(flags: { output?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  const file = lockFile(ctx.env);
  const lock = loadLock(file);
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ file, ...lock }, null, 2));
    return ExitCode.ok;
  }
  const components: [string, Component][] = [
    ...Object.entries(lock.kubernetes.versions).map(([minor, v]): [string, Component] => [`kubernetes ${minor}${minor === lock.kubernetes.default ? ' (default)' : ''}`, v]),
    ...Object.entries(lock.addons),
  ];
  const rows: string[][] = [['COMPONENT', 'VERSION', 'ARTEFACT', 'PIN']];
  for (const [name, c] of components) {
    for (const f of c.files) rows.push([name, c.version, f.name, f.sha256 ? `sha256:${f.sha256.slice(0, 12)}…` : 'NOT PINNED']);
    for (const m of c.images) rows.push([name, c.version, m.ref, m.digest ? `${m.digest.slice(0, 19)}…` : 'NOT PINNED']);
  }
  ctx.out(formatTable(rows));
  const unpinned = clusterArtefacts(lock, lock.kubernetes.default).unpinned.length;
  ctx.out(`\n${file}: ${unpinned} artefact(s) of the default cluster not pinned yet`);
  return ExitCode.ok;
}
