import type { Step } from '../../../src/core/pipeline.js';
import { registryAnswers, registryArgv, registryPaths, startRegistry } from '../registry.js';
import { remoteCommand } from '../../../src/exec/ssh-runner.js';
import { need, type UpContext } from '../../../src/steps/context.js';

/** The cluster's image registry on the host (not with --no-registry): dpdkci ports registry. */
export const startRegistryStep: Step<UpContext> = {
  name: 'start registry',
  enabled: (ctx) => ctx.record?.registryPort !== undefined || (ctx.record === undefined && ctx.options.registry),
  async isDone(ctx) {
    const port = need(ctx.record, 'cluster record').registryPort;
    return port === undefined || (await registryAnswers(port));
  },
  async apply(ctx) {
    const record = need(ctx.record, 'cluster record');
    const port = need(record.registryPort, 'registry port');
    const pid = await startRegistry(registryPaths(ctx.paths.dir), port);
    return `docker-registry pid ${pid} on 127.0.0.1:${port}`;
  },
  plan(ctx) {
    const paths = registryPaths(ctx.paths.dir);
    const port = need(ctx.record, 'cluster record').registryPort;
    return [
      { on: 'host', verb: 'write', what: `${paths.config} (mode 0600: store ${paths.data}, listen on 127.0.0.1:${port})` },
      { on: 'host', verb: 'run', what: `${remoteCommand(registryArgv(paths))} (in the background, output in ${paths.log})` },
    ];
  },
};
