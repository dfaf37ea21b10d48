import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { given, pick, type RawFlags } from './option-table.js';
import { boolean, parseDuration } from './option-values.js';
import { parseRegistryMirrors, type RegistryMirror } from './registry-mirrors.js';

/**
 * The options besides the cluster's own (src/core/config.ts), resolved from the same table at the CLI
 * boundary into typed values: where Kubernetes' artefacts and Debian come from, up's limits, sync's inputs.
 */

/** --mirror (DPDKCI_MIRROR): the base URL artefacts are fetched from instead of their own hosts. */
export function resolveMirror(flags: RawFlags, env: NodeJS.ProcessEnv): string | undefined {
  const src = given('mirror', flags, env);
  if (src && !/^https?:\/\//.test(src.value)) throw new UsageError(`${src.via}: "${src.value}" is not an http(s) URL; e.g. --mirror http://mirror.example:8080`);
  return src?.value;
}

/** --bundle and --mirror (DPDKCI_BUNDLE, DPDKCI_MIRROR): where Kubernetes' artefacts come from. */
export function resolveKubernetesSources(flags: RawFlags, env: NodeJS.ProcessEnv): { bundleDir?: string; mirror?: string } {
  const bundleDir = given('bundle', flags, env)?.value;
  const mirror = resolveMirror(flags, env);
  return { ...(bundleDir !== undefined ? { bundleDir } : {}), ...(mirror ? { mirror } : {}) };
}

/** --registry-mirror HOST=URL (repeatable) or DPDKCI_REGISTRY_MIRRORS (comma- or space-separated). */
export function resolveRegistryMirrors(flags: { registryMirror?: string[] }, env: NodeJS.ProcessEnv): RegistryMirror[] {
  if (flags.registryMirror?.length) return parseRegistryMirrors(flags.registryMirror, '--registry-mirror');
  const src = given('registryMirrors', {}, env);
  return src ? parseRegistryMirrors(src.value.split(/[\s,]+/).filter(Boolean), src.via) : [];
}

/** --locked (DPDKCI_LOCKED): refuse to look up any value the lock leaves null. */
export function resolveLocked(flags: RawFlags, env: NodeJS.ProcessEnv): boolean {
  return boolean(pick('locked', flags, env));
}

/** --debian-mirror (DPDKCI_DEBIAN_MIRROR), or undefined for the host's own apt sources. */
export function resolveDebianMirrorOption(flags: RawFlags, env: NodeJS.ProcessEnv): string | undefined {
  const src = given('debianMirror', flags, env);
  if (src && !/^(https?|file):\/\//.test(src.value)) throw new UsageError(`${src.via}: "${src.value}" is not a mirror URL; e.g. --debian-mirror http://deb.debian.org/debian`);
  return src?.value;
}

/** --boot-reset-after (DPDKCI_BOOT_RESET_AFTER): seconds a booting node may spend before its kernel until it is reset, once. */
export function resolveBootResetAfterS(flags: RawFlags, env: NodeJS.ProcessEnv): number {
  const { value, via } = pick('bootResetAfter', flags, env);
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || (seconds !== 0 && seconds < 5)) {
    const example = via === 'DPDKCI_BOOT_RESET_AFTER' ? 'DPDKCI_BOOT_RESET_AFTER=120' : '--boot-reset-after 120';
    throw new UsageError(`${via}: "${value}" is not a number of seconds (0 to never reset, else at least 5); e.g. ${example}`);
  }
  return seconds;
}

/** --boot-timeout (DPDKCI_BOOT_TIMEOUT): seconds a node may take to answer over SSH. */
export function resolveBootTimeoutS(flags: RawFlags, env: NodeJS.ProcessEnv): number {
  const { value, via } = pick('bootTimeout', flags, env);
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 10) {
    const example = via === 'DPDKCI_BOOT_TIMEOUT' ? 'DPDKCI_BOOT_TIMEOUT=300' : '--boot-timeout 300';
    throw new UsageError(`${via}: "${value}" is not a number of seconds (at least 10); e.g. ${example}`);
  }
  return seconds;
}

/** --timeout (DPDKCI_TIMEOUT): seconds the whole up may take, or undefined for no limit. */
export function resolveTimeoutS(flags: RawFlags, env: NodeJS.ProcessEnv): number | undefined {
  const src = given('timeout', flags, env);
  return src ? parseDuration(src.value, src.via) : undefined;
}

/** --artifacts (ARTIFACTS): where a failed up collects its logs, or undefined. */
export function resolveArtifacts(flags: RawFlags, env: NodeJS.ProcessEnv): string | undefined {
  return given('artifacts', flags, env)?.value;
}

/** A registry's HOST:PORT, checked before anything is read or sent; via names the flag or variable it came from. */
export function parseRegistry(value: string, via = '--registry'): string {
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(value) || Number(value.split(':')[1]) > 65535) {
    throw new UsageError(`${via}: "${value}" is not HOST:PORT; give the registry's forwarded address, e.g. --registry 127.0.0.1:5000, or cluster for the cluster's own`);
  }
  return value;
}

/**
 * Where sync takes its inputs when none is named (DPDKCI_SYNC_DIR), and the registry it pushes to (--registry,
 * DPDKCI_SYNC_REGISTRY): HOST:PORT, checked here, or "cluster" for the cluster's own.
 */
export function resolveSyncSources(flags: RawFlags, env: NodeJS.ProcessEnv): { dir: string; registry?: string } {
  const registry = given('syncRegistry', flags, env);
  if (registry && registry.value !== 'cluster') parseRegistry(registry.value, registry.via);
  return { dir: resolve(pick('syncDir', flags, env).value), ...(registry ? { registry: registry.value } : {}) };
}
