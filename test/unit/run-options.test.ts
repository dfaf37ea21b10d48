import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { OPTION_SPECS, optionHelp, type OptionName } from '../../src/core/option-table.js';
import { buildProgram } from '../../src/cli/main.js';
import { placesFrom } from '../../src/core/places.js';
import type { CommandContext } from '../../src/cli/context.js';
import { upCheckOptions } from '../../src/cli/commands/up-plan.js';
import { resolveBootResetAfterS, resolveBootTimeoutS, resolveDebianMirrorOption, resolveKubernetesSources, resolveSyncSources, resolveTimeoutS } from '../../src/core/run-options.js';

/** The one option table, and the options besides the cluster's resolved from it: flag over variable over default. */
describe('the option table', () => {
  it('names only flags the CLI has, so that a message never names a flag that does not exist', () => {
    const main = readFileSync(join(__dirname, '..', '..', 'src', 'cli', 'main.ts'), 'utf8');
    for (const [name, spec] of Object.entries(OPTION_SPECS)) if (spec.flag) expect(main, `${name}: ${spec.flag}`).toMatch(new RegExp(`'${spec.flag}[ ']`));
  });

  it("gives every flag of the table its variable and default in --help, from the table", () => {
    // Commands that resolve a row with a default of their own (pick's fallback), and a flag the table has but
    // the command does not resolve from it (down --provider only guards against the wrong prefix).
    const ownDefault: Record<string, string> = { 'provision --kubernetes': 'none', "bundle --kubernetes": "the lock file's default" };
    const notFromTable = new Set(['down --provider']);
    const byFlag = new Map<string, OptionName[]>();
    for (const [name, spec] of Object.entries(OPTION_SPECS)) if (spec.flag) byFlag.set(spec.flag, [...(byFlag.get(spec.flag) ?? []), name as OptionName]);
    const program = buildProgram({ env: {}, places: placesFrom({}), out: () => {}, progress: {} as CommandContext['progress'], signal: new AbortController().signal }, () => {});
    const commands = (c: Command): Command[] => [c, ...c.commands.flatMap(commands)];
    let checked = 0;
    for (const command of commands(program)) {
      for (const option of command.options) {
        const keys = option.long ? byFlag.get(option.long) : undefined;
        const where = `${command.name()} ${option.long}`;
        if (!keys || notFromTable.has(where)) continue;
        const key = keys[0] as OptionName;
        const spec = OPTION_SPECS[key];
        // Every row with this flag says the same (--secondary-nics is two rows).
        for (const k of keys) expect([OPTION_SPECS[k].env, OPTION_SPECS[k].default], `${where}: ${k}`).toEqual([spec.env, spec.default]);
        const fallback = ownDefault[where];
        expect(option.description, where).toContain(optionHelp(key, fallback !== undefined ? { fallback } : {}).replace(/\)$/, ''));
        if (spec.env) expect(option.description, where).toContain(spec.env);
        const shown = fallback ?? spec.shown ?? spec.default;
        if (shown !== '') expect(option.description, where).toContain(`default ${shown}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('takes the flag over the variable, the variable over the default, and names where a bad value came from', () => {
    expect(resolveKubernetesSources({ mirror: 'http://a.example' }, { DPDKCI_MIRROR: 'http://b.example', DPDKCI_BUNDLE: '/b' })).toEqual({ bundleDir: '/b', mirror: 'http://a.example' });
    expect(resolveKubernetesSources({}, { DPDKCI_MIRROR: '' })).toEqual({});
    expect(() => resolveKubernetesSources({}, { DPDKCI_MIRROR: 'ftp://x' })).toThrow(/^DPDKCI_MIRROR: "ftp:\/\/x" is not an http\(s\) URL/);
    expect(() => resolveKubernetesSources({ mirror: 'x' }, {})).toThrow(/^--mirror: "x" is not an http\(s\) URL/);
    expect(resolveBootResetAfterS({}, {})).toBe(60);
    expect(resolveBootResetAfterS({}, { DPDKCI_BOOT_RESET_AFTER: '0' })).toBe(0);
    expect(() => resolveBootResetAfterS({}, { DPDKCI_BOOT_RESET_AFTER: '3' })).toThrow(/^DPDKCI_BOOT_RESET_AFTER: "3" is not a number of seconds .* e\.g\. DPDKCI_BOOT_RESET_AFTER=120$/);
    expect(resolveBootTimeoutS({}, {})).toBe(600);
    expect(resolveBootTimeoutS({ bootTimeout: '300' }, { DPDKCI_BOOT_TIMEOUT: '900' })).toBe(300);
    expect(resolveBootTimeoutS({}, { DPDKCI_BOOT_TIMEOUT: '900' })).toBe(900);
    expect(() => resolveBootTimeoutS({}, { DPDKCI_BOOT_TIMEOUT: '5' })).toThrow(/^DPDKCI_BOOT_TIMEOUT: "5" is not a number of seconds \(at least 10\); e\.g\. DPDKCI_BOOT_TIMEOUT=300$/);
    expect(() => resolveBootTimeoutS({ bootTimeout: 'soon' }, {})).toThrow(/^--boot-timeout: "soon" is not a number of seconds \(at least 10\); e\.g\. --boot-timeout 300$/);
    expect(upCheckOptions({}, {}).seconds).toBe(3);
    expect(upCheckOptions({}, { DPDKCI_CHECK_SECONDS: '10' }).seconds).toBe(10);
    expect(upCheckOptions({ checkSeconds: '4' }, { DPDKCI_CHECK_SECONDS: '10' }).seconds).toBe(4);
    expect(() => upCheckOptions({}, { DPDKCI_CHECK_SECONDS: '1' })).toThrow(/^DPDKCI_CHECK_SECONDS: "1" is not a traffic time from 2 to 600 seconds \(e\.g\. DPDKCI_CHECK_SECONDS=10\)$/);
    expect(resolveTimeoutS({}, {})).toBeUndefined();
    expect(resolveTimeoutS({ timeout: '2m' }, { DPDKCI_TIMEOUT: '1h' })).toBe(120);
    expect(() => resolveTimeoutS({}, { DPDKCI_TIMEOUT: 'soon' })).toThrow(/^DPDKCI_TIMEOUT: "soon" is not a duration/);
    expect(resolveDebianMirrorOption({}, {})).toBeUndefined();
    expect(resolveDebianMirrorOption({}, { DPDKCI_DEBIAN_MIRROR: 'http://deb.example/debian' })).toBe('http://deb.example/debian');
    expect(() => resolveDebianMirrorOption({ debianMirror: 'deb.example' }, {})).toThrow(/^--debian-mirror: "deb\.example" is not a mirror URL/);
    expect(resolveSyncSources({}, {})).toEqual({ dir: resolve('_out', 'dpdkci') });
    expect(() => resolveSyncSources({ syncRegistry: 'http://127.0.0.1:5000' }, {})).toThrow(/^--registry: "http:\/\/127\.0\.0\.1:5000" is not HOST:PORT/);
    expect(() => resolveSyncSources({}, { DPDKCI_SYNC_REGISTRY: 'nowhere' })).toThrow(/^DPDKCI_SYNC_REGISTRY: "nowhere" is not HOST:PORT/);
    expect(resolveSyncSources({ syncRegistry: 'cluster' }, { DPDKCI_SYNC_DIR: '/tmp/out', DPDKCI_SYNC_REGISTRY: '127.0.0.1:5000' })).toEqual({ dir: '/tmp/out', registry: 'cluster' });
  });
});

describe('the places, resolved once from the variables of the table', () => {
  it('takes DPDKCI_*_DIR over the XDG directories, keeps snapshots in the cache by default, and the lock of the checkout', () => {
    const p = placesFrom({ XDG_STATE_HOME: '/x/state', XDG_CACHE_HOME: '/x/cache' });
    expect(p).toEqual({ stateRoot: '/x/state/dpdkci', cacheRoot: '/x/cache/dpdkci', snapshotRoot: '/x/cache/dpdkci/snapshots', lockFile: join(__dirname, '..', '..', 'versions.lock.yaml') });
    expect(placesFrom({ DPDKCI_STATE_DIR: '/s', DPDKCI_CACHE_DIR: '/c', DPDKCI_LOCK_FILE: '/l.yaml', DPDKCI_OWNER_PID: '42', XDG_STATE_HOME: '/x' })).toEqual({
      stateRoot: '/s',
      cacheRoot: '/c',
      snapshotRoot: '/c/snapshots',
      lockFile: '/l.yaml',
      ownerPid: '42',
    });
    expect(placesFrom({ DPDKCI_CACHE_DIR: '/c', DPDKCI_SNAPSHOT_DIR: 'snaps' }).snapshotRoot).toBe(resolve('snaps'));
    // Empty is unset, as before.
    expect(placesFrom({ DPDKCI_STATE_DIR: '', XDG_STATE_HOME: '/x' }).stateRoot).toBe('/x/dpdkci');
  });
});
