/**
 * What OVS-DPDK is given on every node, as far as the options are checked against it (src/core/config.ts)
 * and the cluster record keeps it; the plan itself is derived in src/dataplane/plan.ts.
 *
 * - OVS preallocates dpdk-socket-mem and may grow to dpdk-socket-limit; the rest of the hugepages is
 *   left for guests (VMs, DPDK pods, the testpmd of `dpdkci check`).
 */
export const OVS_SOCKET_MEM_MIB = 512;
export const OVS_SOCKET_LIMIT_MIB = 768;
/** The least hugepage memory a guest needs beside OVS (one testpmd or a small VM). */
export const GUEST_HUGEPAGES_MIB = 512;
/** 2M pages given to a --dpdk node when the user does not say: OVS's limit plus two guests. */
export const DPDK_DEFAULT_HUGEPAGES_2M = (OVS_SOCKET_LIMIT_MIB + 2 * GUEST_HUGEPAGES_MIB) / 2;
export const DEFAULT_SOCKET_DIR = '/var/lib/vhost_sockets';
/** Unix socket paths are limited to 108 bytes (sun_path) including the NUL. */
export const SUN_PATH_MAX = 107;
/** The longest socket name dpdkci itself creates in the socket directory. */
export const LONGEST_SOCKET_NAME = 'dpdkci-chk-kernel.sock';

/** What every node's OVS-DPDK was given (PCI address, masks, socket dir, bridge); kept in the cluster record. */
export interface DataplanePlan {
  pci: string;
  pmdMaxSleepUs: number;
  socketMemMiB: number;
  socketLimitMiB: number;
  lcoreMask: string;
  pmdMask: string;
  socketDir: string;
  bridge: string;
}
