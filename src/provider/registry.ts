import type { ClusterRecord } from '../core/cluster.js';
import { DpdkciError } from '../core/errors.js';
import type { Provider } from './provider.js';

/**
 * The providers there are, registered by the CLI (src/cli/providers.ts) when it starts, so that the layers
 * below it reach a cluster's provider by the record's name without importing a provider module.
 */
const providers = new Map<string, Provider>();

export function registerProvider(provider: Provider): void {
  providers.set(provider.name, provider);
}

/** Every registered provider, for what asks each of them about its own clusters (`down --all-stale`). */
export function registeredProviders(): Provider[] {
  return [...providers.values()];
}

/** The provider of a cluster's record, or QEMU's for a prefix without one (`down` of a cluster whose record is gone). */
export function providerOf(record?: Pick<ClusterRecord, 'provider'>): Provider {
  const name = record?.provider ?? 'qemu';
  const provider = providers.get(name);
  if (!provider) throw new DpdkciError(`internal: provider "${name}" is not registered (src/cli/providers.ts registers them)`);
  return provider;
}
