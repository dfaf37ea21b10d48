import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromDeb822, fromOneLine, hostDebianMirror } from '../../src/image/debian-mirror.js';

describe('the Debian mirror comes from the host apt configuration', () => {
  it('reads deb822 sources and skips the security suite', () => {
    const text = [
      'Types: deb',
      'URIs: http://mirror.example/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      '',
      'Types: deb deb-src',
      'URIs: http://mirror.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
    ].join('\n');
    expect(fromDeb822(text)).toEqual(['http://mirror.example/debian']);
  });
  it('skips disabled and source-only stanzas', () => {
    expect(fromDeb822('Types: deb\nURIs: http://a/\nSuites: bookworm\nEnabled: no\n\nTypes: deb-src\nURIs: http://b/\nSuites: bookworm')).toEqual([]);
  });
  it('reads one-line sources.list with options', () => {
    expect(fromOneLine('# comment\ndeb [arch=amd64] http://m.example/debian bookworm main\ndeb http://s.example/ bookworm-security main')).toEqual(['http://m.example/debian']);
  });
  it('prefers .sources files, then sources.list; undefined when there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apt-'));
    expect(hostDebianMirror(dir)).toBeUndefined();
    writeFileSync(join(dir, 'sources.list'), 'deb http://list.example/debian bookworm main\n');
    expect(hostDebianMirror(dir)).toBe('http://list.example/debian');
    mkdirSync(join(dir, 'sources.list.d'));
    writeFileSync(join(dir, 'sources.list.d', 'debian.sources'), 'Types: deb\nURIs: http://d822.example/debian\nSuites: bookworm\n');
    expect(hostDebianMirror(dir)).toBe('http://d822.example/debian');
  });
});
