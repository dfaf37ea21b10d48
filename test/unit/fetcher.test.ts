import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedPath, fetchArtifact, sourceUrl, type Artifact } from '../../src/fetch/fetcher.js';

/** A real HTTP server on 127.0.0.1 that serves /files/*, honours Range, and can stall or refuse. */
const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
const SHA = createHash('sha256').update(BODY).digest('hex');
const requests: { url: string; range?: string }[] = [];
let server: Server;
let base: string;

function handle(req: IncomingMessage, res: import('node:http').ServerResponse) {
  requests.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
  const path = req.url ?? '';
  if (path.endsWith('/stall')) {
    res.writeHead(200, { 'content-length': String(BODY.length) });
    res.write(BODY.subarray(0, 1000)); // then nothing
    return;
  }
  if (!path.endsWith('/blob')) {
    res.writeHead(404).end('not here');
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    const from = Number(m[1]);
    res.writeHead(206, { 'content-length': String(BODY.length - from), 'content-range': `bytes ${from}-${BODY.length - 1}/${BODY.length}` });
    res.end(BODY.subarray(from));
    return;
  }
  res.writeHead(200, { 'content-length': String(BODY.length) });
  res.end(BODY);
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const cache = () => mkdtempSync(join(tmpdir(), 'dpdkci-fetch-'));
const artifact = (path: string, sha256 = SHA): Artifact => ({ name: 'blob-1.0', url: `${base}${path}`, sha256 });

describe('fetchArtifact against a local HTTP server', () => {
  it('downloads, verifies and caches; the second fetch makes no request', async () => {
    const dir = cache();
    const a = artifact('/files/blob');
    const file = await fetchArtifact(a, { cacheDir: dir });
    expect(file).toBe(cachedPath(dir, a));
    expect(readFileSync(file).equals(BODY)).toBe(true);
    const before = requests.length;
    expect(await fetchArtifact(a, { cacheDir: dir })).toBe(file);
    expect(requests.length).toBe(before);
  });

  it('a checksum mismatch names the artefact and both sums, and keeps nothing', async () => {
    const dir = cache();
    const wrong = 'a'.repeat(64);
    await expect(fetchArtifact(artifact('/files/blob', wrong), { cacheDir: dir })).rejects.toThrow(
      new RegExp(`blob-1.0: checksum mismatch: the lock file pins sha256 ${wrong}, ${base}/files/blob gave ${SHA}`),
    );
    expect(existsSync(cachedPath(dir, artifact('/files/blob', wrong)))).toBe(false);
    expect(existsSync(`${cachedPath(dir, artifact('/files/blob', wrong))}.partial`)).toBe(false);
  });

  it('a 404 says so, with the URL', async () => {
    await expect(fetchArtifact(artifact('/files/gone'), { cacheDir: cache() })).rejects.toThrow(/blob-1.0: http:\/\/127.0.0.1:\d+\/files\/gone answered 404 Not Found/);
  });

  it('a server that stops sending times out, and the partial download is kept', async () => {
    const dir = cache();
    const a = artifact('/files/stall');
    const began = Date.now();
    await expect(fetchArtifact(a, { cacheDir: dir, idleTimeoutMs: 500 })).rejects.toThrow(/blob-1.0: no data from .*\/files\/stall for 0.5s; the partial download is kept/);
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(readFileSync(`${cachedPath(dir, a)}.partial`).length).toBe(1000);
  });

  it('resumes a cached partial download with a range request', async () => {
    const dir = cache();
    const a = artifact('/files/blob');
    mkdirSync(join(dir, 'sha256', SHA), { recursive: true });
    writeFileSync(`${cachedPath(dir, a)}.partial`, BODY.subarray(0, 123_456));
    const file = await fetchArtifact(a, { cacheDir: dir });
    expect(readFileSync(file).equals(BODY)).toBe(true);
    expect(requests.at(-1)).toEqual({ url: '/files/blob', range: 'bytes=123456-' });
  });

  it('fetches from a mirror as MIRROR/host/path', async () => {
    const a: Artifact = { name: 'blob-1.0', url: 'https://downloads.example.org/files/blob', sha256: SHA };
    expect(sourceUrl(a, `${base}/mirror/`)).toBe(`${base}/mirror/downloads.example.org/files/blob`);
    const file = await fetchArtifact(a, { cacheDir: cache(), mirror: `${base}/mirror` });
    expect(readFileSync(file).equals(BODY)).toBe(true);
    expect(requests.at(-1)?.url).toBe('/mirror/downloads.example.org/files/blob');
  });

  it('an unreachable source names the ways out', async () => {
    const a: Artifact = { name: 'blob-1.0', url: 'http://127.0.0.1:1/files/blob', sha256: SHA };
    await expect(fetchArtifact(a, { cacheDir: cache() })).rejects.toThrow(/could not download .* give --mirror URL or --bundle DIR/);
  });

  it('takes a bundle\'s copy without any request, and refuses a missing or altered one', async () => {
    const bundle = cache();
    mkdirSync(join(bundle, 'files'));
    const a: Artifact = { name: 'blob-1.0', url: 'https://downloads.example.org/files/blob', sha256: SHA };
    await expect(fetchArtifact(a, { cacheDir: cache(), bundleDir: bundle })).rejects.toThrow(/blob-1.0: not in the bundle .* make the bundle again/);
    writeFileSync(join(bundle, 'files', 'blob-1.0'), BODY);
    const before = requests.length;
    expect(await fetchArtifact(a, { cacheDir: cache(), bundleDir: bundle })).toBe(join(bundle, 'files', 'blob-1.0'));
    expect(requests.length).toBe(before);
    writeFileSync(join(bundle, 'files', 'blob-1.0'), Buffer.concat([BODY, Buffer.from('x')]));
    await expect(fetchArtifact(a, { cacheDir: cache(), bundleDir: bundle })).rejects.toThrow(/blob-1.0: checksum mismatch: .* bundle /);
  });

  it('refuses an entry without a pinned checksum', async () => {
    await expect(fetchArtifact(artifact('/files/blob', 'latest'), { cacheDir: cache() })).rejects.toThrow(/pins no valid sha256 \("latest"\)/);
  });
});
