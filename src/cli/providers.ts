import { registerProvider, providerOf, registeredProviders } from '../provider/registry.js';
import type { Provider } from '../provider/provider.js';
import type { ProviderName } from '../core/config.js';
import { qemuProvider } from '../../providers/qemu/index.js';
import { hostsProvider } from '../../providers/hosts/index.js';
import { qemuProvisioner } from '../../providers/qemu/provision.js';
import { hostsProvisioner } from '../../providers/hosts/provision.js';
import type { Provisioner } from '../steps/provisioner.js';

/**
 * The one place providers are known: each name of PROVIDER_NAMES (src/core/config.ts) with its provider and
 * its provisioner; the compiler refuses a name left out. Each is registered here, and chosen by a record.
 */
const PROVIDERS: Record<ProviderName, { provider: Provider; provisioner: Provisioner }> = {
  qemu: { provider: qemuProvider, provisioner: qemuProvisioner },
  hosts: { provider: hostsProvider, provisioner: hostsProvisioner },
};
for (const { provider } of Object.values(PROVIDERS)) registerProvider(provider);

export { PROVIDER_NAMES } from '../core/config.js';
export const providerFor = providerOf;
/** Every provider, each asked about its own clusters (`down --all-stale`). */
export const allProviders = registeredProviders;

/** The steps of `up` a provider brings (kind's Provision), by the options' provider. */
export function provisionerFor(name: ProviderName): Provisioner {
  return PROVIDERS[name].provisioner;
}
