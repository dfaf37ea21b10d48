import { registerProvider, providerOf } from '../provider/registry.js';
import { qemuProvider } from '../../providers/qemu/index.js';
import { hostsProvider } from '../../providers/hosts/index.js';

/** The one place providers are known: each is registered here, and chosen by a cluster's record. */
registerProvider(qemuProvider);
registerProvider(hostsProvider);

export const providerFor = providerOf;
export const PROVIDER_NAMES = ['qemu', 'hosts'] as const;
