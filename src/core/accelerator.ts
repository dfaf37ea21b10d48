/**
 * What QEMU's choose-accelerator step finds (providers/qemu/kvm-probe.ts) and the steps after it read from
 * UpContext: types only, so that the steps' context names them without importing the provider.
 */
export type Accelerator = 'kvm' | 'tcg';

export interface KvmProbeResult {
  usable: boolean;
  reason: string;
  seconds: number;
}

export interface AccelChoice {
  accel: Accelerator;
  /** One line for the user when auto fell back to TCG. */
  warning?: string;
  probe?: KvmProbeResult;
}
