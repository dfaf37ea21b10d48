/**
 * Parses what dpdk-testpmd prints with --stats-period 1: a "NIC statistics for port N" block per port
 * every second, then "Forward statistics for port N" totals when it stops. Pure: unit-tested against a
 * real capture (test/fixtures/testpmd-flowgen-loop.txt).
 */
export interface PortSample {
  /** When testpmd printed it (seconds since the epoch), if the output was time-stamped. */
  at?: number;
  rxPackets: number;
  txPackets: number;
  rxPps: number;
  txPps: number;
}

export interface PortTotals {
  rxPackets: number;
  txPackets: number;
  txDropped: number;
}

export interface TestpmdRun {
  /** Per port, one sample a second, in order. */
  samples: Map<number, PortSample[]>;
  /** Per port, the totals printed at the end (absent when testpmd did not stop cleanly). */
  totals: Map<number, PortTotals>;
}

/** Lines may start with a time stamp ("1763890000.123456 "), added by scripts/node/dpdk-check.sh. */
const STAMP = /^(\d+\.\d+) /;

const num = (block: string, label: string): number => {
  const m = new RegExp(`${label}:\\s+(\\d+)`).exec(block);
  return m?.[1] ? Number(m[1]) : 0;
};

export function parseTestpmd(output: string): TestpmdRun {
  const clean = output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  // Keep each line's time stamp as a marker testpmd never prints ("@t=...") so blocks can carry it.
  const text = clean
    .split('\n')
    .map((l) => l.replace(STAMP, (_m, t: string) => `@t=${t} `))
    .join('\n');
  const samples = new Map<number, PortSample[]>();
  const totals = new Map<number, PortTotals>();
  const nic = /(?:@t=(\d+\.\d+) )?\s*#+ NIC statistics for port (\d+)\s+#+([\s\S]*?)#{20,}/g;
  for (const m of text.matchAll(nic)) {
    const port = Number(m[2]);
    const block = m[3] ?? '';
    const list = samples.get(port) ?? [];
    list.push({ ...(m[1] ? { at: Number(m[1]) } : {}), rxPackets: num(block, 'RX-packets'), txPackets: num(block, 'TX-packets'), rxPps: num(block, 'Rx-pps'), txPps: num(block, 'Tx-pps') });
    samples.set(port, list);
  }
  const fwd = /-+ Forward statistics for port (\d+)\s+-+([\s\S]*?)-{20,}/g;
  for (const m of text.matchAll(fwd)) {
    const block = m[2] ?? '';
    totals.set(Number(m[1]), { rxPackets: num(block, 'RX-packets'), txPackets: num(block, 'TX-packets'), txDropped: num(block, 'TX-dropped') });
  }
  return { samples, totals };
}

/**
 * The steady receive rate of a port: the mean of its per-second samples once traffic flows, leaving out
 * the first flowing second (a partial one) and any second with nothing received.
 */
export function steadyRxPps(samples: readonly PortSample[]): number {
  const flowing = samples.map((s) => s.rxPps).filter((p) => p > 0).slice(1);
  if (flowing.length === 0) return samples.some((s) => s.rxPps > 0) ? Math.max(...samples.map((s) => s.rxPps)) : 0;
  return Math.round(flowing.reduce((a, b) => a + b, 0) / flowing.length);
}

/**
 * The longest time with nothing received after traffic first flowed and before it flowed again (an OVS
 * restart in the middle of traffic), in seconds: from the last sample that saw traffic to the first that
 * saw it again, by the samples' time stamps (or counting samples as seconds when there are none).
 * resumed is false when traffic stopped and never came back.
 */
export function longestGapSeconds(samples: readonly PortSample[]): { gap: number; resumed: boolean } {
  let lastFlowing: { index: number; at?: number } | undefined;
  let longest = 0;
  let stoppedSinceLast = false;
  samples.forEach((s, index) => {
    if (s.rxPps > 0) {
      if (lastFlowing && stoppedSinceLast) {
        const gap = s.at !== undefined && lastFlowing.at !== undefined ? s.at - lastFlowing.at : index - lastFlowing.index - 1;
        longest = Math.max(longest, gap);
      }
      lastFlowing = { index, at: s.at };
      stoppedSinceLast = false;
    } else if (lastFlowing) {
      stoppedSinceLast = true;
    }
  });
  return { gap: Math.round(longest * 10) / 10, resumed: lastFlowing !== undefined && !stoppedSinceLast };
}
