import { ExitCode, UsageError } from '../../core/errors.js';
import { completedValues, writeResolutions } from '../../versions/resolve.js';
import { formatTable } from '../../core/table.js';
import { type Component } from '../../versions/lock.js';
import { missingValues } from '../../versions/first-use.js';
import { fileKey, imageKey, lockSha256, writeUserLock, type EffectiveLock, type Provenance } from '../../versions/user-lock.js';
import type { CommandContext } from '../context.js';
import { checkOutputFormat } from '../output.js';
import { effectiveLock, lookupSources, resolveForUse, type LockFlags } from './lock-use.js';

type VersionsFlags = { output?: string; resolve?: boolean; write?: boolean; mirror?: string } & LockFlags;

/** Where a value came from, as the table shows it: shipped, resolved DATE, or missing. */
export function provenanceText(p: Provenance | undefined): string {
  if (!p || p.state === 'missing') return 'missing';
  return p.state === 'shipped' ? 'shipped' : `resolved ${p.resolved.slice(0, 10)}`;
}

/** `dpdkci versions`: the lock in use as a table, each value with where it came from. */
export async function runVersions(flags: VersionsFlags, ctx: CommandContext): Promise<number> {
  checkOutputFormat(flags.output);
  if ((flags.write || flags.mirror !== undefined || flags.registryMirror !== undefined) && !flags.resolve) {
    throw new UsageError(`versions: ${flags.write ? '--write' : flags.mirror !== undefined ? '--mirror' : '--registry-mirror'} goes with --resolve; add --resolve`);
  }
  if (flags.resolve && lookupSources(flags, ctx.env, ctx.places).locked) throw new UsageError('versions --resolve: --locked (DPDKCI_LOCKED) forbids looking values up; leave --locked out, or unset DPDKCI_LOCKED');
  const effective = effectiveLock(ctx);
  const file = ctx.places.lockFile;
  if (flags.resolve) return resolveVersions(effective, flags, ctx);
  const { lock, provenance } = effective;
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ file, userLock: effective.userFile, ...lock, provenance }, null, 2));
    return ExitCode.ok;
  }
  const components: [string, Component][] = [
    ...Object.entries(lock.kubernetes.versions).map(([minor, v]): [string, Component] => [`kubernetes ${minor}${minor === lock.kubernetes.default ? ' (default)' : ''}`, v]),
    ...Object.entries(lock.addons),
  ];
  const rows: string[][] = [['COMPONENT', 'VERSION', 'ARTEFACT', 'PIN', 'SOURCE']];
  for (const [name, c] of components) {
    for (const f of c.files) rows.push([name, c.version, f.name, f.sha256 ? `sha256:${f.sha256.slice(0, 12)}…` : 'NOT PINNED', provenanceText(provenance[fileKey(f.name)])]);
    for (const m of c.images) rows.push([name, c.version, m.ref, m.digest ? `${m.digest.slice(0, 19)}…` : 'NOT PINNED', provenanceText(provenance[imageKey(m.ref)])]);
    if (c.build) rows.push([name, c.version, `${c.build.install} (built)`, `go build ${c.build.package} of ${c.build.source} with ${c.build.toolchain}`, '']);
  }
  ctx.out(formatTable(rows));
  const missing = missingValues(effective, [lock.kubernetes.default]).length;
  ctx.out(`\n${file}: ${missing} value(s) of the default cluster missing${missing ? ' (up, provision, bundle or versions --resolve look them up and record them)' : ''}; resolved values: ${effective.userFile}`);
  return ExitCode.ok;
}

/** versions --resolve [--write]: every value the lock leaves null looked up and recorded; exit 1 when any could not be. */
async function resolveVersions(effective: EffectiveLock, flags: VersionsFlags, ctx: CommandContext): Promise<number> {
  const file = ctx.places.lockFile;
  const minors = Object.keys(effective.lock.kubernetes.versions);
  const { bundleDir: _, ...sources } = lookupSources(flags, ctx.env, ctx.places);
  const { effective: after, resolved, failed } = await resolveForUse(effective, minors, sources, ctx);
  // --write: a lab that commits its pins gets every value recorded so far (this run's and earlier ones).
  const written = flags.write ? completedValues(after.shipped, after.lock) : [];
  if (written.length) {
    writeResolutions(file, written);
    // The lock's content changed: the user lock follows it (kubeadm's checks kept), instead of being set aside next time.
    writeUserLock(after.userFile, { ...after.user, lockSha256: lockSha256(file) });
  }
  if (flags.output === 'json') {
    ctx.out(JSON.stringify({ file, userLock: after.userFile, written: written.length > 0, resolved, failed }, null, 2));
  } else {
    if (resolved.length) ctx.out(formatTable([['ARTEFACT', 'FOUND', 'FROM'], ...resolved.map((r) => [r.name, r.key.startsWith('file:') ? `sha256:${r.value}` : r.value, r.from])]));
    for (const f of failed) ctx.out(`not found: ${f.name}: ${f.why}`);
    if (resolved.length === 0 && failed.length === 0) ctx.out(`${file}: every value is recorded; nothing to look up`);
    if (written.length) ctx.out(`\n${file}: ${written.length} value(s) written; they are what was served when resolved: review the change (git diff) before you commit it`);
    else if (resolved.length) ctx.out(`\nrecorded in ${after.userFile}; add --write to put them in ${file} as well`);
  }
  return failed.length ? ExitCode.failure : ExitCode.ok;
}
