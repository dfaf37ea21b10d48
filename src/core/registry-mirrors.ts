import { UsageError } from './errors.js';

/**
 * `--registry-mirror HOST=URL` (repeatable; DPDKCI_REGISTRY_MIRRORS, comma- or space-separated): image
 * look-ups and pulls for registry HOST go to URL instead, on this machine and in each node's containerd.
 * URL is a pull-through cache or a registry holding copies under the same names; digests are checked the
 * same whichever answers.
 */
export interface RegistryMirror {
  /** A registry host as image references name it: registry.k8s.io, quay.io, ghcr.io, docker.io, host:port. */
  host: string;
  /** The mirror's base URL, http(s)://HOST[:PORT][/PATH], without a trailing slash. */
  url: string;
}

const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;

/** Parses HOST=URL values; `via` names where they came from (the flag or the variable) in the error. */
export function parseRegistryMirrors(values: string[], via: string): RegistryMirror[] {
  const out: RegistryMirror[] = [];
  for (const value of values) {
    const eq = value.indexOf('=');
    const host = eq > 0 ? value.slice(0, eq) : '';
    const url = eq > 0 ? value.slice(eq + 1).replace(/\/+$/, '') : '';
    if (!HOST.test(host) || !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(url)) {
      throw new UsageError(`${via}: "${value}" is not HOST=URL; e.g. --registry-mirror registry.k8s.io=http://127.0.0.1:5000 or quay.io=https://quay-cache.lab`);
    }
    if (out.some((m) => m.host === host)) throw new UsageError(`${via}: ${host} is given two mirrors; give one per registry host`);
    out.push({ host, url });
  }
  return out;
}

/** The base URL look-ups for `host` go to: its mirror, else the registry itself. */
export function registryEndpoint(mirrors: RegistryMirror[], host: string): string {
  return mirrors.find((m) => m.host === host)?.url ?? `https://${host === 'docker.io' ? 'registry-1.docker.io' : host}`;
}
