import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { DpdkciError, InterruptedError } from '../core/errors.js';
import type { PinnedBuild } from '../versions/lock.js';

/**
 * Builds a binary the lock describes (the userspace CNI plugin: no release ships one) on the host, from the
 * two pinned archives: the source, and a Go toolchain (go.dev's linux-amd64 archive, go/bin/go inside). The
 * host's own Go, if any, is never used, so the result depends on the lock alone: -trimpath and a fixed
 * toolchain make the same bytes every time. Modules the source needs come through GOPROXY (Go's default,
 * or the user's), each checked against the source's go.sum; a vendor/ directory needs no network at all.
 * The lock may overlay files of the source (the plugin's VPP engine, which cannot build from a release
 * archive, is swapped for a stub of ours); the archive itself is never changed.
 */
export interface GoBuildOptions {
  cacheDir: string;
  signal?: AbortSignal;
  /**
   * The environment `go build` starts from: a child process's, not dpdkci's options (goEnv passes on only
   * HOME and the GOPROXY/GOSUMDB/proxy settings). `dpdkci bundle` gives the CLI's; without it, this process's.
   */
  env?: NodeJS.ProcessEnv;
  onProgress?: (what: string) => void;
}

/** Where a build's result is kept: one directory per build key. */
export function builtPath(cacheDir: string, build: PinnedBuild): string {
  return join(cacheDir, 'builds', `${build.name}-${build.key}`, build.binary);
}

function isElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** The one directory an archive unpacked into (GitHub's source archives hold NAME-VERSION/), else dir itself. */
function archiveRoot(dir: string): string {
  const entries = readdirSync(dir, { withFileTypes: true });
  return entries.length === 1 && entries[0]?.isDirectory() ? join(dir, entries[0].name) : dir;
}

/**
 * The file of `go build -overlay`: each replaced source file (absolute) mapped to a copy of ours, checked
 * against the sha256 the build key holds, or to "" (left out). A path the source lacks is refused, so an
 * upstream rename cannot quietly turn a replacement into an added file.
 */
function writeOverlay(build: PinnedBuild, root: string, work: string): string {
  const replace: Record<string, string> = {};
  mkdirSync(join(work, 'overlay'));
  build.overlay.forEach((o, i) => {
    if (!existsSync(join(root, o.path))) throw new DpdkciError(`building ${build.name}: the overlay replaces ${o.path}, which ${build.source.name} does not have`);
    if (!o.replacement) {
      replace[join(root, o.path)] = '';
      return;
    }
    const bytes = readFileSync(o.replacement.file);
    if (createHash('sha256').update(bytes).digest('hex') !== o.replacement.sha256) throw new DpdkciError(`building ${build.name}: ${o.replacement.file} changed since the lock was read`);
    const copy = join(work, 'overlay', `${i}-${basename(o.path)}`);
    writeFileSync(copy, bytes);
    replace[join(root, o.path)] = copy;
  });
  const file = join(work, 'overlay.json');
  writeFileSync(file, `${JSON.stringify({ Replace: replace }, null, 2)}\n`);
  return file;
}

/** The environment of `go build`: the unpacked toolchain, caches kept with dpdkci's, no cgo, no toolchain switch. */
export function goEnv(goroot: string, cacheDir: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const passed = Object.fromEntries(Object.entries(env).filter(([k]) => /^(GOPROXY|GONOSUMDB|GONOSUMCHECK|GOPRIVATE|GOSUMDB|GOINSECURE|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/.test(k)));
  return {
    PATH: `${join(goroot, 'bin')}:/usr/bin:/bin`,
    HOME: env.HOME ?? '/root',
    ...passed,
    GOROOT: goroot,
    GOPATH: join(cacheDir, 'go'),
    GOCACHE: join(cacheDir, 'go-build'),
    GOFLAGS: '-modcacherw',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOOS: 'linux',
    GOARCH: 'amd64',
  };
}

/**
 * The built binary, from the cache or built now from the two archives (already verified by the fetcher).
 * A failed build is an error naming the build and ending with what go said; nothing half-built is kept.
 */
export async function buildGoBinary(build: PinnedBuild, sourceArchive: string, toolchainArchive: string, options: GoBuildOptions): Promise<string> {
  const out = builtPath(options.cacheDir, build);
  if (existsSync(out)) return out;
  mkdirSync(join(options.cacheDir, 'builds'), { recursive: true });
  const work = mkdtempSync(join(options.cacheDir, 'builds', `.${build.name}-`));
  try {
    const unpack = async (archive: string, into: string, what: string) => {
      mkdirSync(into);
      const r = await execa('tar', ['-xf', archive, '-C', into], { reject: false, ...(options.signal ? { cancelSignal: options.signal } : {}) });
      if (r.exitCode !== 0) throw new DpdkciError(`building ${build.name}: ${what} ${archive} does not unpack: ${String(r.stderr).trim()}`);
    };
    // The small source (and its overlay) first: what is wrong there shows before the toolchain's unpack.
    options.onProgress?.(`unpacking ${build.source.name}`);
    await unpack(sourceArchive, join(work, 'source'), 'the source');
    const root = archiveRoot(join(work, 'source'));
    if (!existsSync(join(root, 'go.mod'))) throw new DpdkciError(`building ${build.name}: ${build.source.name} has no go.mod at its top`);
    const overlay = build.overlay.length > 0 ? [`-overlay=${writeOverlay(build, root, work)}`] : [];
    options.onProgress?.(`unpacking ${build.toolchain.name}`);
    await unpack(toolchainArchive, join(work, 'toolchain'), 'the Go toolchain');
    const goroot = join(work, 'toolchain', 'go');
    const go = join(goroot, 'bin', 'go');
    if (!existsSync(go)) throw new DpdkciError(`building ${build.name}: ${build.toolchain.name} holds no go/bin/go (is it a Go release archive for linux-amd64?)`);
    options.onProgress?.(`go build ${build.package}`);
    const built = join(work, build.binary);
    const r = await execa(go, ['build', '-trimpath', '-ldflags=-s -w -buildid=', ...overlay, '-o', built, build.package], {
      cwd: root,
      env: goEnv(goroot, options.cacheDir, options.env ?? process.env),
      extendEnv: false,
      reject: false,
      all: true,
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    });
    if (options.signal?.aborted) throw new InterruptedError(`building ${build.name} interrupted`);
    if (r.exitCode !== 0) {
      const said = String(r.all ?? '').trim().split('\n').slice(-15).join('\n');
      throw new DpdkciError(
        `building ${build.name} failed: go build ${build.package} in ${build.source.name} exited ${r.exitCode}:\n${said}\n` +
          'modules come through GOPROXY (set it for a mirror), checked against go.sum',
      );
    }
    if (!existsSync(built) || !statSync(built).isFile() || !isElf(built)) throw new DpdkciError(`building ${build.name}: go build left no executable at ${built}`);
    mkdirSync(join(out, '..'), { recursive: true });
    renameSync(built, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
