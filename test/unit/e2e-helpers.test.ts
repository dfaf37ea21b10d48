import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv } from '../e2e/helpers.js';

/**
 * The e2e suite's environment (test/e2e/helpers.ts): Kubernetes off whatever the machine's environment says,
 * and a test that passes --kubernetes still gets it. Checked through `up --dry-run`, the CLI's own resolution.
 */
describe('cliEnv, the e2e environment', () => {
  const state = mkdtempSync(join(tmpdir(), 'dpdkci-e2e-env-'));
  const dryRun = (args: string[]) =>
    execa('node', [BIN, 'up', '--dry-run', '--prefix', 'e2e-env', ...args], { reject: false, env: cliEnv({ DPDKCI_STATE_DIR: state }) });

  it('turns Kubernetes off even where the machine asks for it', async () => {
    const outside = process.env.DPDKCI_KUBERNETES;
    process.env.DPDKCI_KUBERNETES = '1.36';
    try {
      expect(cliEnv().DPDKCI_KUBERNETES).toBe('none');
      const r = await dryRun([]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^dpdkci up --dry-run: .*, Kubernetes none,/m);
    } finally {
      if (outside === undefined) delete process.env.DPDKCI_KUBERNETES;
      else process.env.DPDKCI_KUBERNETES = outside;
    }
  });

  it('a test opts in with --kubernetes on its command line', async () => {
    const r = await dryRun(['--kubernetes', '1.36']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dpdkci up --dry-run: .*, Kubernetes 1\.36,/m);
  });
});
