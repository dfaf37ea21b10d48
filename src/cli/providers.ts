import { registerProvider, providerOf } from '../provider/registry.js';
import { qemuProvider } from '../../providers/qemu/index.js';
import { hostsProvider } from '../../providers/hosts/index.js';
import { qemuProvisioner } from '../../providers/qemu/provision.js';
import { hostsProvisioner } from '../../providers/hosts/provision.js';
import type { Provisioner } from '../steps/provisioner.js';

/** The one place providers are known: each is registered here, and chosen by a cluster's record. */
registerProvider(qemuProvider);
registerProvider(hostsProvider);

export const providerFor = providerOf;
export const PROVIDER_NAMES = ['qemu', 'hosts'] as const;

const provisioners: Record<(typeof PROVIDER_NAMES)[number], Provisioner> = { qemu: qemuProvisioner, hosts: hostsProvisioner };

/** The steps of `up` a provider brings (kind's Provision), by the options' provider. */
export function provisionerFor(name: (typeof PROVIDER_NAMES)[number]): Provisioner {
  return provisioners[name];
}
