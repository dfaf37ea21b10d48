import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DpdkciError, UsageError } from '../core/errors.js';
import { PROJECT_ROOT } from '../core/paths.js';
import type { Artifact } from '../fetch/fetcher.js';

/** A file the lock pins; sha256 null means "not recorded yet". */
export interface LockedFile {
  name: string;
  url: string;
  sha256: string | null;
  install?: string;
}

export interface LockedImage {
  ref: string;
  digest: string | null;
}

/**
 * A file of the unpacked source as `go build -overlay` sees it: replaced by a file of ours, or left out.
 * The source archive itself stays as downloaded.
 */
export interface OverlayFile {
  /** Path in the source tree, relative to its top (where go.mod is). */
  path: string;
  /** Our file (absolute path) and its sha256 at load time; null: the build leaves the source's file out. */
  replacement: { file: string; sha256: string } | null;
}

/**
 * A binary no release ships, built from two of the component's files: `go build` of `package` in the
 * unpacked `source` archive, with the Go of the unpacked `toolchain` archive (go/bin/go), installed on every
 * node as `install`. go.sum in the source pins every module the build fetches. `overlay` (lock: a map of
 * source path to a file of the dpdkci checkout, or "") replaces files of the source.
 */
export interface GoBuild {
  source: string;
  toolchain: string;
  package: string;
  binary: string;
  install: string;
  overlay: OverlayFile[];
}

export interface Component {
  version: string;
  files: LockedFile[];
  images: LockedImage[];
  build?: GoBuild;
}

export interface KubernetesVersion extends Component {
  release: string;
  podSubnet: string;
  serviceSubnet: string;
}

export interface Lock {
  schema: 1;
  kubernetes: { default: string; versions: Record<string, KubernetesVersion> };
  addons: Record<string, Component>;
}

import type { Places } from '../core/places.js';

export const LOCK_FILE = join(PROJECT_ROOT, 'versions.lock.yaml');

/** The lock file in use: DPDKCI_LOCK_FILE (a lab's own pins, or a test's), else the project's. */
export function lockFile(places: Places): string {
  return places.lockFile;
}

function fail(file: string, where: string, what: string): never {
  throw new DpdkciError(`${file}: ${where}: ${what}`);
}

/** A plain file name: what files/NAME in a bundle and a built binary's name may be. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function files(file: string, where: string, raw: unknown): LockedFile[] {
  if (!Array.isArray(raw)) fail(file, where, 'files must be a list');
  return raw.map((f: Record<string, unknown>, i) => {
    const at = `${where}.files[${i}]`;
    if (typeof f.name !== 'string' || !FILE_NAME.test(f.name)) fail(file, at, `name "${String(f.name)}" must be a file name`);
    if (typeof f.url !== 'string' || !/^https:\/\//.test(f.url)) fail(file, at, `url "${String(f.url)}" must be an https URL`);
    if (/\/latest\/|[:=]latest\b/.test(f.url)) fail(file, at, `url ${f.url} names "latest", which moves; pin a release`);
    if (f.sha256 !== null && (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256))) fail(file, at, `sha256 "${String(f.sha256)}" is not 64 hex digits (or null: not recorded yet)`);
    return { name: f.name, url: f.url, sha256: f.sha256 as string | null, ...(typeof f.install === 'string' ? { install: f.install } : {}) };
  });
}

function images(file: string, where: string, raw: unknown): LockedImage[] {
  if (!Array.isArray(raw)) fail(file, where, 'images must be a list');
  return raw.map((m: Record<string, unknown>, i) => {
    const at = `${where}.images[${i}]`;
    if (typeof m.ref !== 'string' || !/^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+:[A-Za-z0-9._-]+$/.test(m.ref)) fail(file, at, `ref "${String(m.ref)}" must be REGISTRY/NAME:TAG`);
    if (m.ref.endsWith(':latest')) fail(file, at, `ref ${m.ref} is "latest", which moves; pin a tag and its digest`);
    if (m.digest !== null && (typeof m.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(m.digest))) fail(file, at, `digest "${String(m.digest)}" is not sha256:<64 hex digits> (or null: not recorded yet)`);
    return { ref: m.ref, digest: m.digest as string | null };
  });
}

/** A relative path that stays inside its directory: no leading /, no "..", no empty or "." parts. */
const INSIDE = /^(?!.*(^|\/)\.{1,2}(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** Replacements are files of the checkout (like images/), so a copy of the lock elsewhere (a lab's, a test's) still finds them. */
function overlay(file: string, at: string, raw: unknown, root: string): OverlayFile[] {
  if (raw === undefined) return [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(file, at, 'must map paths in the source to a file of ours, or to "" (left out)');
  // Sorted by code point (not by locale), so the build key depends neither on the lock's order nor on the host.
  const entries = Object.entries(raw as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([path, by]) => {
    if (!INSIDE.test(path)) fail(file, `${at}."${path}"`, 'must be a path inside the source tree (relative, no "..")');
    if (by === '') return { path, replacement: null };
    if (typeof by !== 'string' || !INSIDE.test(by)) fail(file, `${at}."${path}"`, `"${String(by)}" must be a file relative to ${root} (no "..") or "" (left out)`);
    const ours = join(root, by);
    let bytes: Buffer;
    try {
      if (!statSync(ours).isFile()) throw new Error('not a regular file');
      bytes = readFileSync(ours);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
      fail(file, `${at}."${path}"`, `${ours} ${why} (a replacement is relative to the dpdkci checkout)`);
    }
    return { path, replacement: { file: ours, sha256: createHash('sha256').update(bytes).digest('hex') } };
  });
}

function goBuild(file: string, at: string, raw: unknown, own: LockedFile[], root: string): GoBuild {
  const b = (raw ?? {}) as Record<string, unknown>;
  for (const key of ['source', 'toolchain'] as const) {
    if (typeof b[key] !== 'string' || !own.some((f) => f.name === b[key])) fail(file, `${at}.${key}`, `"${String(b[key])}" must name one of this add-on's files (${own.map((f) => f.name).join(', ')})`);
  }
  if (typeof b.package !== 'string' || !/^\.\/[A-Za-z0-9._/-]*$/.test(b.package)) fail(file, `${at}.package`, `"${String(b.package)}" must be a package path inside the source, such as ./userspace`);
  if (typeof b.binary !== 'string' || !FILE_NAME.test(b.binary)) fail(file, `${at}.binary`, `"${String(b.binary)}" must be a file name`);
  if (typeof b.install !== 'string' || !/^\/[A-Za-z0-9._/-]+$/.test(b.install)) fail(file, `${at}.install`, `"${String(b.install)}" must be an absolute path on the node`);
  return { source: b.source as string, toolchain: b.toolchain as string, package: b.package, binary: b.binary, install: b.install, overlay: overlay(file, `${at}.overlay`, b.overlay, root) };
}

/**
 * Reads and checks the lock file: every URL https and pinned to a release, every checksum well-formed, every
 * overlay file present in `root` (the dpdkci checkout; a test's own tree).
 */
export function loadLock(file: string, root = PROJECT_ROOT): Lock {
  let raw: Record<string, unknown>;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DpdkciError(`${file}: ${(e as Error).message}`);
  }
  if (raw?.schema !== 1) fail(file, 'schema', `"${String(raw?.schema)}" is not a schema this dpdkci reads (1)`);
  const k = raw.kubernetes as { default?: unknown; versions?: Record<string, Record<string, unknown>> } | undefined;
  if (!k?.versions || typeof k.default !== 'string' || !k.versions[k.default]) fail(file, 'kubernetes', 'needs versions and a default that is one of them');
  const versions: Record<string, KubernetesVersion> = {};
  for (const [minor, v] of Object.entries(k.versions)) {
    const at = `kubernetes.versions."${minor}"`;
    if (!/^1\.\d+$/.test(minor)) fail(file, at, 'keys are minor versions such as 1.36');
    if (typeof v.release !== 'string' || !v.release.startsWith(`v${minor}.`)) fail(file, at, `release "${String(v.release)}" must be a v${minor}.N release`);
    versions[minor] = {
      version: v.release,
      release: v.release,
      podSubnet: String(v.podSubnet),
      serviceSubnet: String(v.serviceSubnet),
      files: files(file, at, v.files),
      images: images(file, at, v.images),
    };
  }
  const addons: Record<string, Component> = {};
  for (const [name, a] of Object.entries((raw.addons ?? {}) as Record<string, Record<string, unknown>>)) {
    if (typeof a.version !== 'string' || a.version === 'latest') fail(file, `addons.${name}`, `version "${String(a.version)}" must be a release`);
    const component: Component = { version: a.version, files: files(file, `addons.${name}`, a.files), images: images(file, `addons.${name}`, a.images ?? []) };
    if (a.build !== undefined) component.build = goBuild(file, `addons.${name}.build`, a.build, component.files, root);
    addons[name] = component;
  }
  return { schema: 1, kubernetes: { default: k.default, versions }, addons };
}

/** The Kubernetes version of --kubernetes, which the lock must pin. */
export function kubernetesVersion(lock: Lock, minor: string): KubernetesVersion {
  const v = lock.kubernetes.versions[minor];
  if (!v) {
    throw new UsageError(`--kubernetes: ${minor} is not a version this dpdkci pins; pinned: ${Object.keys(lock.kubernetes.versions).join(', ')} (or none)`);
  }
  return v;
}

/** A build the lock describes, with its two inputs pinned: what to build and where the result goes. */
export interface PinnedBuild {
  /** The built binary's file name in a bundle and in the layer's staging directory: ADDON-VERSION-BINARY. */
  name: string;
  addon: string;
  package: string;
  binary: string;
  install: string;
  source: Artifact;
  toolchain: Artifact;
  overlay: OverlayFile[];
  /** Names the build: its inputs' checksums (overlay files included) and what is built from them. */
  key: string;
}

export interface ClusterArtefacts {
  /** Files with a recorded sha256, ready for the fetcher. */
  files: (Artifact & { install?: string })[];
  /** Binaries built from pinned files (only when both inputs are pinned). */
  builds: PinnedBuild[];
  images: LockedImage[];
  /** What has no checksum or digest recorded yet: "userspace-cni-network-plugin-3e14ba36.tar.gz (sha256)". */
  unpinned: string[];
}

/** Everything a cluster of this Kubernetes version needs, Kubernetes' own parts and every add-on. */
export function clusterArtefacts(lock: Lock, minor: string): ClusterArtefacts {
  const parts: [string, Component][] = [['kubernetes', kubernetesVersion(lock, minor)], ...Object.entries(lock.addons)];
  const out: ClusterArtefacts = { files: [], builds: [], images: [], unpinned: [] };
  for (const [name, part] of parts) {
    const b = part.build;
    const source = part.files.find((f) => f.name === b?.source);
    const toolchain = part.files.find((f) => f.name === b?.toolchain);
    if (b && source?.sha256 && toolchain?.sha256) {
      // Without an overlay the key is what it was before overlays existed, so such builds stay cached.
      const overlaid = b.overlay.map((o) => ` ${o.path}=${o.replacement?.sha256 ?? '-'}`).join('');
      const key = createHash('sha256').update(`${source.sha256} ${toolchain.sha256} ${b.package} ${b.binary}${overlaid}`).digest('hex').slice(0, 16);
      out.builds.push({
        name: `${name}-${part.version}-${b.binary}`,
        addon: name,
        package: b.package,
        binary: b.binary,
        install: b.install,
        source: { name: source.name, url: source.url, sha256: source.sha256 },
        toolchain: { name: toolchain.name, url: toolchain.url, sha256: toolchain.sha256 },
        overlay: b.overlay,
        key,
      });
    }
    for (const f of part.files) {
      if (f.sha256) out.files.push({ name: f.name, url: f.url, sha256: f.sha256, ...(f.install ? { install: f.install } : {}) });
      else out.unpinned.push(`${f.name} (sha256)`);
    }
    for (const m of part.images) {
      out.images.push(m);
      if (!m.digest) out.unpinned.push(`${m.ref} (digest)`);
    }
  }
  return out;
}

/** The pause image of a Kubernetes version: the sandbox containerd gives every pod. */
export function pauseImage(version: KubernetesVersion): LockedImage {
  const pause = version.images.find((m) => /\/pause:[^/]+$/.test(m.ref));
  if (!pause) throw new DpdkciError(`Kubernetes ${version.release}: the lock file pins no pause image (registry.k8s.io/pause:TAG)`);
  return pause;
}
