import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { readOciArchive } from '../../src/sync/oci.js';
import { helloElf, helloImageArchive } from '../fixtures/oci.js';

describe('the test image the sync e2e ships', () => {
  it('its hand-written static binary runs and prints its message', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dpdkci-elf-')), 'hello');
    writeFileSync(file, helloElf('hi from a 160-byte program\n'));
    chmodSync(file, 0o755);
    const r = await execa(file, [], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hi from a 160-byte program');
  });

  it('is an OCI archive sync reads: one full name, the manifest digest', async () => {
    const { file, digest } = await helloImageArchive('dpdkci.test/hello:1', 'hello\n');
    expect(await readOciArchive(file)).toEqual({ file, names: ['dpdkci.test/hello:1'], digest });
  });
});

describe('readOciArchive refuses what containerd could not use', () => {
  it('a file that is not an OCI archive, naming the option and how to make one', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dpdkci-oci-bad-')), 'not.tar');
    writeFileSync(file, 'nope');
    await expect(readOciArchive(file)).rejects.toThrow(/--image: .*not.tar is not an OCI image archive .*docker save/);
  });
  it('a bare tag without a repository', async () => {
    const { file } = await helloImageArchive('latest', 'x\n');
    await expect(readOciArchive(file)).rejects.toThrow(/names its image "latest", which is a bare tag/);
  });
});
