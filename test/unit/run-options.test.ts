import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OPTION_SPECS } from '../../src/core/option-table.js';
import { upCheckOptions } from '../../src/cli/commands/up-plan.js';
import { resolveBootResetAfterS, resolveBootTimeoutS, resolveDebianMirrorOption, resolveKubernetesSources, resolveSyncSources, resolveTimeoutS } from '../../src/core/run-options.js';

/** The one option table, and the options besides the cluster's resolved from it: flag over variable over default. */
describe('the option table', () => {
  it('names only flags the CLI has, so that a message never names a flag that does not exist', () => {
    const main = readFileSync(join(__dirname, '..', '..', 'src', 'cli', 'main.ts'), 'utf8');
    for (const [name, spec] of Object.entries(OPTION_SPECS)) expect(main, `${name}: ${spec.flag}`).toMatch(new RegExp(`'${spec.flag}[ ']`));
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
