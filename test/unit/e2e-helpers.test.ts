import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, nodeReadScript, parseNodeRead } from '../e2e/helpers.js';

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

/** The batched node read's script and parser, run by real local shells as a node's shell would run them. */
describe('nodeReadScript and parseNodeRead', () => {
  const mark = 'dpdkci-read-0123456789abcdef';
  const commands = [
    'echo vfio-pci',
    'printf "no newline"',
    'echo to-stderr >&2; exit 3',
    'true',
    'printf "a\\nb\\n\\n"; cat',
    'test -e /nonexistent && echo there || echo none',
  ];

  it.each(['sh', 'bash'])('under %s: every output and exit code, in order, stderr kept apart, stdin closed', async (shell) => {
    const r = await execa(shell, ['-c', nodeReadScript(commands, mark)], { reject: false, input: 'not for the commands' });
    expect(r.exitCode).toBe(0);
    expect(parseNodeRead(r.stdout, commands.length, mark)).toEqual([
      { out: 'vfio-pci', code: 0 },
      { out: 'no newline', code: 0 },
      { out: '', code: 3 },
      { out: '', code: 0 },
      { out: 'a\nb', code: 0 },
      { out: 'none', code: 0 },
    ]);
    expect(r.stderr).toBe('to-stderr');
  });

  it('a command whose markers never came (the connection dropped) reads as missing, not as empty', async () => {
    const r = await execa('sh', ['-c', `${nodeReadScript(commands.slice(0, 2), mark)}; exit 255`], { reject: false });
    const cut = r.stdout.slice(0, r.stdout.indexOf(`${mark} 1 end`));
    expect(parseNodeRead(cut, 2, mark)).toEqual([{ out: 'vfio-pci', code: 0 }, undefined]);
  });
});
