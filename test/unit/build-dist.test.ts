import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distIsStale } from '../fixtures/build-dist.js';

/** The unit tier's globalSetup compiles when dist/ is older than a source (T9: no stale dist/ under test). */
describe('distIsStale', () => {
  const tree = () => {
    const root = mkdtempSync(join(tmpdir(), 'dpdkci-dist-'));
    for (const d of ['src/core', 'providers', 'scripts', 'dist']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'tsconfig.json'), '{}');
    writeFileSync(join(root, 'src', 'core', 'a.ts'), '');
    const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
    for (const f of ['tsconfig.json', 'src/core/a.ts']) at(f, 1000);
    return { root, stamp: join(root, 'dist', '.built'), at };
  };

  it('is stale with no build stamp', () => {
    const { root, stamp } = tree();
    expect(distIsStale(root, stamp)).toBe(true);
  });

  it('is fresh when the stamp is newer than every source, stale once a nested source is newer', () => {
    const { root, stamp, at } = tree();
    writeFileSync(stamp, '');
    at('dist/.built', 2000);
    expect(distIsStale(root, stamp)).toBe(false);
    at('src/core/a.ts', 3000);
    expect(distIsStale(root, stamp)).toBe(true);
  });

  it('is stale when tsconfig.json changed after the build', () => {
    const { root, stamp, at } = tree();
    writeFileSync(stamp, '');
    at('dist/.built', 2000);
    at('tsconfig.json', 3000);
    expect(distIsStale(root, stamp)).toBe(true);
  });
});
