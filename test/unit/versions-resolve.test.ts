import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLock } from '../../src/versions/lock.js';
import { resolveMissing, tagDigest, writeResolutions } from '../../src/versions/resolve.js';

/**
 * versions --resolve against a local HTTP server that is both a file mirror and a registry with the
 * anonymous bearer-token challenge: the values found are the hashes of what was served, failures are named,
 * and --write keeps the lock's comments and leaves pinned values alone.
 */
const FILE = Buffer.from('a release tarball stand-in\n');
const INDEX = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let server: Server;
let base = '';
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`.trim());
    if (req.url === '/files.test/releases/v1/tool.tar.gz') return void res.end(FILE);
    if (req.url?.startsWith('/token?')) return void res.end(JSON.stringify({ token: 'anon-token' }));
    if (req.url === '/v2/team/app/manifests/v1') {
      if (req.headers.authorization !== 'Bearer anon-token') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="reg.test"` });
        return void res.end();
      }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': `sha256:${hex(INDEX)}` });
      return void res.end(INDEX);
    }
    res.writeHead(404);
    res.end('not here');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function lockWithGaps(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'dpdkci-resolve-')), 'versions.lock.yaml');
  writeFileSync(
    file,
    `# a comment that must survive --write
schema: 1
kubernetes:
  default: "1.31"
  versions:
    "1.31":
      release: v1.31.4
      podSubnet: 10.244.0.0/16
      serviceSubnet: 10.96.0.0/12
      files:
        - name: tool.tar.gz
          url: https://files.test/releases/v1/tool.tar.gz
          sha256: null # looked up later
      images:
        - ref: reg.test/team/app:v1
          digest: null
        - ref: reg.test/team/pinned:v1
          digest: sha256:${'a'.repeat(64)}
addons:
  extra:
    version: v1
    files: []
    images:
      - ref: reg.test/team/gone:v2
        digest: null
`,
  );
  return file;
}

describe('versions --resolve', () => {
  it('finds each null value from what the network serves, and names what it could not find', async () => {
    const file = lockWithGaps();
    const { resolved, failed } = await resolveMissing(file, { mirror: base, endpoint: () => base });
    expect(resolved).toEqual([
      { path: ['kubernetes', 'versions', '1.31', 'files', 0, 'sha256'], kind: 'file', name: 'tool.tar.gz', value: hex(FILE) },
      { path: ['kubernetes', 'versions', '1.31', 'images', 0, 'digest'], kind: 'image', name: 'reg.test/team/app:v1', value: `sha256:${hex(INDEX)}` },
    ]);
    expect(failed).toEqual([{ name: 'reg.test/team/gone:v2', why: expect.stringMatching(/manifests\/v2 answered 404/) }]);
    // The registry was asked with the token its challenge pointed at; the pinned image was not asked at all.
    expect(seen).toContain('GET /v2/team/app/manifests/v1 Bearer anon-token');
    expect(seen.some((s) => s.includes('pinned'))).toBe(false);
  });

  it('--write records them, keeps the comments and the pinned values, and the lock still loads', async () => {
    const file = lockWithGaps();
    const { resolved } = await resolveMissing(file, { mirror: base, endpoint: () => base });
    writeResolutions(file, resolved);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# a comment that must survive --write');
    const lock = loadLock(file);
    const v = lock.kubernetes.versions['1.31']!;
    expect(v.files[0]!.sha256).toBe(hex(FILE));
    expect(v.images.map((m) => m.digest)).toEqual([`sha256:${hex(INDEX)}`, `sha256:${'a'.repeat(64)}`]);
    expect(lock.addons.extra!.images[0]!.digest).toBeNull();
  });

  it('refuses a registry whose named digest does not match the bytes it serves', async () => {
    const liar = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': `sha256:${'b'.repeat(64)}` });
      res.end(INDEX);
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(liar.address() as { port: number }).port}`;
    try {
      await expect(tagDigest('reg.test/team/app:v1', { endpoint: () => at })).rejects.toThrow(/names its manifest sha256:b{64}, but its bytes hash to sha256:/);
    } finally {
      await new Promise<void>((r) => liar.close(() => r()));
    }
  });
});
