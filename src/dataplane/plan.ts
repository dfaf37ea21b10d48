/**
 * What OVS-DPDK gets on a node, derived from the node's shape and the sizes of src/core/dataplane-limits.ts.
 * Pure: unit-tested.
 *
 * - lcore 0 runs OVS's own (non-PMD) DPDK threads; the PMD gets the last vCPU to itself.
 * - OVS preallocates dpdk-socket-mem and may grow to dpdk-socket-limit; the rest of the hugepages is
 *   left for guests (VMs, DPDK pods, the testpmd of `dpdkci check`).
 */
import { GUEST_HUGEPAGES_MIB, OVS_SOCKET_LIMIT_MIB, OVS_SOCKET_MEM_MIB, type DataplanePlan } from '../core/dataplane-limits.js';

export const BRIDGE = 'br-dpdk0';

/**
 * OVS 3.1's load-based PMD sleep (other_config:pmd-maxsleep, microseconds): an idle PMD naps instead of
 * spinning its vCPU at 100 %, which on a test host (and under TCG above all) gives the CPU back to the other
 * nodes. Under load the PMD does not sleep.
 */
export const PMD_MAX_SLEEP_US = 1000;

export function cpuMask(cpus: number[]): string {
  return `0x${cpus.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16)}`;
}

/** `pci`: the node's DPDK NIC, which its provider knows (QEMU: the first secondary NIC's slot). */
export function dataplanePlan(opts: { pci: string; cpus: number; hugepages2m: number; hugepages1g: number; socketDir: string }): DataplanePlan {
  const hugeMiB = opts.hugepages2m * 2 + opts.hugepages1g * 1024;
  return {
    pci: opts.pci,
    pmdMaxSleepUs: PMD_MAX_SLEEP_US,
    socketMemMiB: OVS_SOCKET_MEM_MIB,
    socketLimitMiB: Math.min(OVS_SOCKET_LIMIT_MIB, hugeMiB - GUEST_HUGEPAGES_MIB),
    lcoreMask: cpuMask([0]),
    pmdMask: cpuMask([opts.cpus - 1]),
    socketDir: opts.socketDir,
    bridge: BRIDGE,
  };
}
