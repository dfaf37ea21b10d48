import { ExitCode, UsageError } from '../../core/errors.js';
import { resolveMirror } from '../../core/run-options.js';
import { resolveMissing, writeResolutions } from '../../versions/resolve.js';
import { formatTable } from '../../core/table.js';
import { clusterArtefacts, loadLock, lockFile, type Component } from '../../versions/lock.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';

/** `dpdkci versions`: the lock file as a table, with what is still unpinned. */
export async function runVersions(flags: { output?: string; resolve?: boolean; write?: boolean; mirror?: string }, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  if ((flags.write || flags.mirror !== undefined) && !flags.resolve) throw new UsageError(`versions: ${flags.write ? '--write' : '--mirror'} goes with --resolve; add --resolve`);
  const file = lockFile(ctx.places);
  const lock = loadLock(file);
  if (flags.resolve) return resolveVersions(file, flags, ctx);
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
    if (c.build) rows.push([name, c.version, `${c.build.install} (built)`, `go build ${c.build.package} of ${c.build.source} with ${c.build.toolchain}`]);
  }
  ctx.out(formatTable(rows));
  const unpinned = clusterArtefacts(lock, lock.kubernetes.default).unpinned.length;
  ctx.out(`\n${file}: ${unpinned} artefact(s) of the default cluster not pinned yet`);
  return ExitCode.ok;
}

/** versions --resolve [--write]: the lock's null values looked up; exit 1 when any could not be. */
async function resolveVersions(file: string, flags: { output?: string; write?: boolean; mirror?: string }, ctx: CommandContext): Promise<number> {
  const mirror = resolveMirror(flags, ctx.env);
  const step = ctx.progress.start(`look up the unpinned values of ${file}`);
  const { resolved, failed } = await resolveMissing(file, { ...(mirror ? { mirror } : {}), onProgress: (what) => step.update(what) });
  step.end(failed.length ? 'failed' : 'done', `${resolved.length} found, ${failed.length} not`);
  if (flags.write && resolved.length) writeResolutions(file, resolved);
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ file, written: Boolean(flags.write && resolved.length), resolved, failed }, null, 2));
  } else {
    if (resolved.length) ctx.out(formatTable([['ARTEFACT', 'FOUND', 'AT'], ...resolved.map((r) => [r.name, r.kind === 'file' ? `sha256:${r.value}` : r.value, r.path.join('.')])]));
    for (const f of failed) ctx.out(`not found: ${f.name}: ${f.why}`);
    if (resolved.length === 0 && failed.length === 0) ctx.out(`${file}: every artefact is pinned; nothing to look up`);
    else if (flags.write && resolved.length) ctx.out(`\n${file}: ${resolved.length} value(s) recorded; they are what the network served just now: review the change (git diff) before you commit it`);
    else if (resolved.length) ctx.out(`\nnothing written; add --write to record these in ${file}`);
  }
  return failed.length ? ExitCode.failure : ExitCode.ok;
}
