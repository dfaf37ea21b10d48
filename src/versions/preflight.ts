import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registryEndpoint, type RegistryMirror } from '../core/registry-mirrors.js';
import { cachedPath, sourceUrl } from '../fetch/fetcher.js';
import { clusterArtefacts, type Lock } from './lock.js';
import { tagDigest } from './resolve.js';

export interface PreflightOptions {
  cacheDir: string;
  mirror?: string;
  bundleDir?: string;
  /** --registry-mirror: image look-ups for these hosts go to the mirror. */
  registryMirrors?: RegistryMirror[];
  /** Per probe; the probes run in parallel. */
  timeoutMs?: number;
}

export interface PreflightResult {
  /** "name: why" for every artefact no source can provide. */
  missing: string[];
  unpinned: string[];
  /** Tags whose registry now serves another digest than the one recorded: "REF: the lock records A, ... B". */
  moved: string[];
  /** Where each available artefact would come from. */
  sources: Record<string, 'bundle' | 'cache' | 'network'>;
}

/** The file an image lands in inside a bundle: the reference with / and : made file-name safe. */
export function bundleImageFile(bundleDir: string, ref: string): string {
  return join(bundleDir, 'images', `${ref.replace(/[/:]/g, '_')}.tar`);
}

async function reachable(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const r = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    // A registry answers 401 to an anonymous /v2/: it is there.
    return r.ok || r.status === 401 ? undefined : `${url} answered ${r.status}`;
  } catch (e) {
    const err = e as Error & { cause?: Error };
    return `${url}: ${err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : (err.cause?.message ?? err.message)}`;
  }
}

/**
 * Can every artefact of this Kubernetes version be had, before anything boots? From the bundle when one
 * is given (and then only from it), else from the cache, else over the network (a HEAD request each, in
 * parallel, bounded in time). Artefacts the lock has not pinned yet are reported apart.
 */
export async function preflight(lock: Lock, minor: string, options: PreflightOptions): Promise<PreflightResult> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const wanted = clusterArtefacts(lock, minor);
  const result: PreflightResult = { missing: [], unpinned: wanted.unpinned, moved: [], sources: {} };
  const probes: Promise<void>[] = [];
  for (const f of wanted.files) {
    if (options.bundleDir) {
      if (existsSync(join(options.bundleDir, 'files', f.name))) result.sources[f.name] = 'bundle';
      else result.missing.push(`${f.name}: not in the bundle ${options.bundleDir}`);
    } else if (existsSync(cachedPath(options.cacheDir, f))) {
      result.sources[f.name] = 'cache';
    } else {
      probes.push(
        reachable(sourceUrl(f, options.mirror), timeoutMs).then((why) => {
          if (why) result.missing.push(`${f.name}: ${why}`);
          else result.sources[f.name] = 'network';
        }),
      );
    }
  }
  // A built binary comes from the bundle; without one, it is built from files checked above (and the
  // modules its go.sum pins, through GOPROXY, which is not probed: go names what it could not fetch).
  for (const b of wanted.builds) {
    if (!options.bundleDir) continue;
    if (existsSync(join(options.bundleDir, 'files', b.name))) result.sources[b.name] = 'bundle';
    else result.missing.push(`${b.name}: not in the bundle ${options.bundleDir}`);
  }
  // An image is looked up by its tag (as a pull would), and the digest served is compared with the recorded
  // one: a tag that moved is refused here, before anything boots. An archive in the cache needs no look-up.
  const endpoint = (host: string) => registryEndpoint(options.registryMirrors ?? [], host);
  for (const m of wanted.images) {
    if (options.bundleDir) {
      if (existsSync(bundleImageFile(options.bundleDir, m.ref))) result.sources[m.ref] = 'bundle';
      else result.missing.push(`${m.ref}: not in the bundle ${options.bundleDir}`);
    } else if (m.digest && existsSync(join(options.cacheDir, 'images', `${m.digest.replace(':', '-')}.tar`))) {
      result.sources[m.ref] = 'cache';
    } else if (m.digest) {
      const recorded = m.digest;
      probes.push(
        tagDigest(m.ref, { endpoint, timeoutMs }).then(
          (served) => {
            if (served !== recorded) result.moved.push(`${m.ref}: the lock records ${recorded}, but ${endpoint(m.ref.slice(0, m.ref.indexOf('/')))} now serves ${served} for the tag`);
            else result.sources[m.ref] = 'network';
          },
          (e: Error) => void result.missing.push(`${m.ref}: ${e.message}`),
        ),
      );
    }
  }
  await Promise.all(probes);
  result.missing.sort();
  return result;
}

/** The message of a failed preflight: what is missing, and the two ways out. */
export function preflightMessage(minor: string, r: PreflightResult, bundleDir?: string, userFile?: string): string {
  const lines = [`--kubernetes ${minor}: Kubernetes cannot be provisioned; nothing was started.`];
  if (r.moved.length) lines.push(`${r.moved.length} tag(s) moved since their digest was recorded (refused: the recorded digest is what was checked):`, ...r.moved.map((m) => `  ${m}`));
  if (r.missing.length) lines.push(`${r.missing.length} artefact(s) cannot be had from ${bundleDir ? 'the bundle' : 'the cache or the network'}:`, ...r.missing.map((m) => `  ${m}`));
  if (r.unpinned.length) lines.push(`${r.unpinned.length} artefact(s) have no checksum or digest recorded yet:`, ...r.unpinned.map((m) => `  ${m}`));
  if (r.moved.length) {
    lines.push(
      'A moved tag is not followed: see what changed upstream first. `dpdkci versions` says where each digest came from; one resolved on first use',
      `is recorded in ${userFile ?? 'versions.resolved.yaml in the state directory'}: remove its entry (or the file) and the next run records the tag's digest as it is now.`,
    );
  }
  if (r.missing.length || r.unpinned.length) lines.push(
    'Ways on: where these hosts cannot be reached, --mirror URL (files) and --registry-mirror HOST=URL (images) name copies;',
    'or run `dpdkci bundle DIR` on a connected machine (it resolves and records what is missing) and pass --bundle DIR here;',
    'or bring up the OVS-DPDK nodes alone: --kubernetes none (DPDKCI_KUBERNETES=none).',
  );
  return lines.join('\n');
}
