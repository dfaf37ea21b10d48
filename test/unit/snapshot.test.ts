import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveClusterOptions } from '../../src/core/config.js';
import { usageMessage as usage } from '../fixtures/usage-error.js';
import {
  autoName, checkContents, checkSizes, checkSnapshotName, crc32File, differences, matchKey, matchOf, readSnapshot, snapshotDir, type SnapshotManifest,
} from '../../src/snapshot/store.js';
import { snapshotRequest } from '../../src/cli/commands/up-snapshot.js';
import { incomingArgs, saveUri } from '../../providers/qemu/snapshot.js';
import { placesFrom } from '../../src/core/places.js';

const host = { memAvailableMiB: 20_000 };
const options = (flags: Record<string, string | boolean> = {}) => resolveClusterOptions({ kubernetes: 'none', ...flags }, {}, host);


/** A snapshot directory on disk with two files whose sizes and CRCs the manifest records. */
function savedSnapshot(name = 'one'): { env: NodeJS.ProcessEnv; manifest: SnapshotManifest; dir: string } {
  const env = { DPDKCI_CACHE_DIR: mkdtempSync(join(tmpdir(), 'dpdkci-snap-')) };
  const dir = snapshotDir(name, placesFrom(env));
  mkdirSync(dir, { recursive: true });
  const files = ['node01.state', 'node01.qcow2'].map((file, i) => {
    writeFileSync(join(dir, file), Buffer.alloc(100_000 + i, i + 1));
    return { file, bytes: 100_000 + i, crc32: crc32File(join(dir, file)) };
  });
  const match = matchOf(options({ dpdk: true }), 'tcg', 'abc123', 'QEMU emulator version 7.2.19', 'f'.repeat(64));
  const manifest = { format: 1, name, createdAt: 'now', sourcePrefix: 'src', key: matchKey(match), match, record: {} as never, files, saveSeconds: 1 } as SnapshotManifest;
  writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(manifest));
  return { env, manifest, dir };
}

describe('snapshot names and requests', () => {
  it('refuses a name that is not a plain directory name, naming the option', () => {
    for (const bad of ['', '../x', 'A B', '.hidden', 'x/y', 'a'.repeat(64)]) {
      expect(usage(() => checkSnapshotName(bad, '--from-snapshot'))).toContain('--from-snapshot');
    }
    expect(checkSnapshotName('dpdk-1node_v2.0', '--from-snapshot')).toBe('dpdk-1node_v2.0');
  });
  it('takes --from-snapshot, --snapshot auto or DPDKCI_SNAPSHOT, and refuses both or another mode', () => {
    expect(snapshotRequest({}, {})).toEqual({ kind: 'none' });
    expect(snapshotRequest({ fromSnapshot: 'a' }, {})).toMatchObject({ kind: 'named', name: 'a' });
    expect(snapshotRequest({ snapshot: 'auto' }, {})).toMatchObject({ kind: 'auto' });
    expect(snapshotRequest({}, { DPDKCI_SNAPSHOT: 'auto' })).toMatchObject({ kind: 'auto' });
    expect(snapshotRequest({}, { DPDKCI_SNAPSHOT: 'b' })).toMatchObject({ kind: 'named', name: 'b', option: 'DPDKCI_SNAPSHOT' });
    expect(snapshotRequest({ fromSnapshot: 'a' }, { DPDKCI_SNAPSHOT: 'b' })).toMatchObject({ name: 'a' });
    expect(usage(() => snapshotRequest({ fromSnapshot: 'a', snapshot: 'auto' }, {}))).toContain('give one');
    expect(usage(() => snapshotRequest({ snapshot: 'a' }, {}))).toContain('--from-snapshot a');
    expect(usage(() => snapshotRequest({}, { DPDKCI_SNAPSHOT: '../up' }))).toContain('DPDKCI_SNAPSHOT');
  });
});

describe('what a restore must match', () => {
  const base = matchOf(options({ dpdk: true }), 'tcg', 'img1', 'QEMU 7.2', 's1');
  it('ignores the prefix and --random-ports, and nothing else', () => {
    expect(differences(base, matchOf(options({ dpdk: true, prefix: 'other', randomPorts: true }), 'tcg', 'img1', 'QEMU 7.2', 's1'))).toEqual([]);
    expect(matchKey(matchOf(options({ dpdk: true, prefix: 'other' }), 'tcg', 'img1', 'QEMU 7.2', 's1'))).toBe(matchKey(base));
  });
  it('names every difference: an option, the accelerator, the image, QEMU, the node scripts', () => {
    const other = matchOf(options({ memoryMiB: '4G', nodes: '2' }), 'kvm', 'img2', 'QEMU 8.0', 's2');
    const diff = differences(base, other).join('\n');
    for (const word of ['option dpdk', 'option memoryMiB: saved 3072, here 4096', 'option nodes', 'accelerator', 'node image', 'QEMU', 'node scripts']) expect(diff).toContain(word);
    expect(matchKey(other)).not.toBe(matchKey(base));
    expect(autoName(matchKey(base))).toMatch(/^auto-[0-9a-f]{16}$/);
  });
});

describe('a snapshot on disk', () => {
  it('reads its manifest, and names the snapshot and the fix when there is none', () => {
    const { env, manifest } = savedSnapshot();
    expect(readSnapshot('one', placesFrom(env)).files).toEqual(manifest.files);
    const msg = usage(() => readSnapshot('two', placesFrom(env), '--from-snapshot'));
    expect(msg).toContain('no snapshot "two"');
    expect(msg).toContain('there are: one');
  });
  it('refuses a damaged manifest', () => {
    const { env, dir } = savedSnapshot();
    writeFileSync(join(dir, 'snapshot.json'), '{"format":1,');
    expect(usage(() => readSnapshot('one', placesFrom(env)))).toContain('damaged');
  });
  it('finds a truncated or missing file from its size, naming it', () => {
    const { env, manifest, dir } = savedSnapshot();
    checkSizes(manifest, placesFrom(env));
    truncateSync(join(dir, 'node01.state'), 99_000);
    expect(usage(() => checkSizes(manifest, placesFrom(env)))).toContain(`${join(dir, 'node01.state')} is 99000 bytes, not the 100000`);
  });
  it('finds a flipped byte from the CRC, naming the file', () => {
    const { env, manifest, dir } = savedSnapshot();
    checkContents(manifest, placesFrom(env));
    const file = join(dir, 'node01.qcow2');
    const bytes = readFileSync(file);
    bytes.writeUInt8((bytes[50_000] ?? 0) ^ 0x40, 50_000);
    writeFileSync(file, bytes);
    checkSizes(manifest, placesFrom(env));
    expect(usage(() => checkContents(manifest, placesFrom(env)))).toContain(`${file} is damaged`);
  });
});

describe("QEMU's side", () => {
  it('writes the state through a shell-quoted cat and reads it back from an inherited fd', () => {
    expect(saveUri("/tmp/it's here/node01.state")).toBe(`exec:cat > '/tmp/it'\\''s here/node01.state'`);
    expect(incomingArgs()).toEqual(['-incoming', 'fd:3']);
  });
});
