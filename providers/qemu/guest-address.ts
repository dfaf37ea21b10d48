/**
 * What this machine's loopback is called from inside a QEMU node: the nodes' management NIC is QEMU's user
 * network, where the host is 10.0.2.2 (the default `host=` of `-netdev user`,
 * qemu/qemu@bc14ca2453f22f20569699bda5f12e892131092c:qemu-options.hx, and the diagram of
 * qemu/qemu@d9b32f457f153bdb0478321edf4f637270bebb37:docs/system/devices/net.rst); the cluster registry on
 * 127.0.0.1 is reached there the same way (providers/qemu/registry.ts).
 */
export const QEMU_HOST_FROM_GUEST = '10.0.2.2';

/** A URL on 127.0.0.1 or localhost, as a node reaches it (10.0.2.2, same port and path); others as given. */
export function urlAsGuestSees(url: string): string {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') return url;
  return url.replace(/^(https?:\/\/)[^/:]+/, `$1${QEMU_HOST_FROM_GUEST}`);
}
