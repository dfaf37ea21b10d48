import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';

/**
 * The Debian mirror the host itself uses, read from its apt configuration (deb822 .sources files first,
 * then the one-line sources.list). Security and updates suites are passed over: debootstrap wants the
 * main archive.
 */
export function hostDebianMirror(aptDir = '/etc/apt'): string | undefined {
  const candidates: string[] = [];
  const dir = join(aptDir, 'sources.list.d');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources')).sort() : [];
  for (const file of files) candidates.push(...fromDeb822(readFileSync(join(dir, file), 'utf8')));
  for (const file of [join(aptDir, 'sources.list'), ...(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.list')).sort().map((f) => join(dir, f)) : [])]) {
    if (existsSync(file)) candidates.push(...fromOneLine(readFileSync(file, 'utf8')));
  }
  return candidates[0];
}

function isMainSuite(suite: string): boolean {
  return !/-(security|updates|backports|proposed-updates)$|\/updates$/.test(suite);
}

export function fromDeb822(text: string): string[] {
  const out: string[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
    }
    if (fields.get('enabled') === 'no') continue;
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    if (!suites.some(isMainSuite)) continue;
    out.push(...(fields.get('uris') ?? '').split(/\s+/).filter(Boolean));
  }
  return out;
}

export function fromOneLine(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2] && isMainSuite(m[2])) out.push(m[1]);
  }
  return out;
}

/** The mirror to build from: the one given (--debian-mirror, DPDKCI_DEBIAN_MIRROR), else the host's apt sources. */
export function debianMirrorOrHost(given: string | undefined): string {
  const mirror = given ?? hostDebianMirror();
  if (!mirror) {
    throw new UsageError(
      "--debian-mirror: no Debian mirror found in this host's apt configuration; pass --debian-mirror URL (or DPDKCI_DEBIAN_MIRROR)",
    );
  }
  return mirror;
}
