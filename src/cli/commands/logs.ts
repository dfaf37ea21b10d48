import { resolve } from 'node:path';
import { ExitCode } from '../../core/errors.js';
import { collectLogs, renderLogs } from '../../logs/collect.js';
import type { CommandContext } from '../context.js';
import { requireCluster } from './node-access.js';

export async function runLogs(dir: string, flags: { prefix?: string }, ctx: CommandContext): Promise<number> {
  const record = requireCluster(flags.prefix, ctx.env, ctx.places);
  const target = resolve(dir);
  const step = ctx.progress.start(`collect logs of ${record.prefix}`);
  const logs = await collectLogs(record, target, ctx.places);
  const missing = logs.filter((l) => l.missing).length;
  step.end(missing ? 'failed' : 'done', `${logs.length} node(s)${missing ? `, ${missing} without node logs` : ''}`);
  ctx.out(renderLogs(target, logs));
  return missing ? ExitCode.failure : ExitCode.ok;
}
