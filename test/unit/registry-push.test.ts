import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOciArchive } from '../../src/sync/oci.js';
import { pushImage, repositoryOf } from '../../src/sync/registry-push.js';
import { parseRegistry } from '../../src/core/run-options.js';
import { helloImageArchive } from '../fixtures/oci.js';

/**
 * A registry of the distribution API's push half, in this process: blobs are stored only when their
 * content matches the digest they are uploaded under, and a manifest only when every blob it names is
 * there. It records the requests, so the tests see what a second push sends.
 */
function fakeRegistry() {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { digest: string; type: string; body: Buffer }>();
  const requests: string[] = [];
  const body = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
    });
  const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(url.pathname);
    const item = /^\/v2\/(.+)\/(blobs|manifests)\/([^/]+)$/.exec(url.pathname);
    if (upload && req.method === 'POST') {
      res.writeHead(202, { location: `/v2/${upload[1]}/blobs/uploads/${randomUUID()}` }).end();
    } else if (upload && req.method === 'PUT') {
      const data = await body(req);
      const digest = url.searchParams.get('digest') ?? '';
      if (digestOf(data) !== digest) return void res.writeHead(400).end('DIGEST_INVALID');
      blobs.set(digest, data);
      res.writeHead(201).end();
    } else if (item?.[2] === 'blobs' && req.method === 'HEAD') {
      res.writeHead(blobs.has(item[3] as string) ? 200 : 404).end();
    } else if (item?.[2] === 'manifests' && (req.method === 'HEAD' || req.method === 'GET')) {
      const m = manifests.get(`${item[1]}:${item[3]}`);
      if (!m) return void res.writeHead(404).end();
      res.writeHead(200, { 'docker-content-digest': m.digest, 'content-type': m.type }).end(req.method === 'GET' ? m.body : undefined);
    } else if (item?.[2] === 'manifests' && req.method === 'PUT') {
      const data = await body(req);
      const parsed = JSON.parse(data.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      const missing = [parsed.config, ...parsed.layers].filter((d) => !blobs.has(d.digest));
      if (missing.length) return void res.writeHead(400).end('MANIFEST_BLOB_UNKNOWN');
      manifests.set(`${item[1]}:${item[3]}`, { digest: digestOf(data), type: String(req.headers['content-type']), body: data });
      res.writeHead(201, { 'docker-content-digest': digestOf(data) }).end();
    } else {
      res.writeHead(405).end();
    }
  });
  return { server, blobs, manifests, requests };
}

describe('pushing an image archive to a registry (sync --registry)', () => {
  const registry = fakeRegistry();
  let address: string;
  beforeAll(async () => {
    await new Promise<void>((r) => registry.server.listen(0, '127.0.0.1', r));
    address = `127.0.0.1:${(registry.server.address() as AddressInfo).port}`;
  });
  afterAll(() => registry.server.close());

  it('uploads the blobs and the manifest, under the archive name without its registry host', async () => {
    const { file, digest } = await helloImageArchive('localhost/kubevirt/virt-handler:devel', 'hello\n');
    const result = await pushImage(await readOciArchive(file), address, '--image');
    expect(result).toEqual({ ref: `${address}/kubevirt/virt-handler:devel`, uploaded: 2, changed: true });
    expect(registry.manifests.get('kubevirt/virt-handler:devel')?.digest).toBe(digest);
    expect(registry.manifests.get('kubevirt/virt-handler:devel')?.type).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('sends nothing the second time', async () => {
    const { file } = await helloImageArchive('localhost/kubevirt/virt-handler:devel', 'hello\n');
    const before = registry.requests.length;
    const result = await pushImage(await readOciArchive(file), address, '--image');
    expect(result.changed).toBe(false);
    expect(result.uploaded).toBe(0);
    expect(registry.requests.slice(before)).toEqual(['HEAD /v2/kubevirt/virt-handler/manifests/devel']);
  });

  it('a changed image moves the tag and uploads only the blobs the registry lacks', async () => {
    const { file, digest } = await helloImageArchive('localhost/kubevirt/virt-handler:devel', 'changed\n');
    const before = registry.requests.length;
    const result = await pushImage(await readOciArchive(file), address, '--image');
    expect(result.changed).toBe(true);
    expect(registry.manifests.get('kubevirt/virt-handler:devel')?.digest).toBe(digest);
    const puts = registry.requests.slice(before).filter((r) => r.startsWith('PUT /v2/kubevirt/virt-handler/blobs/uploads/'));
    expect(puts.length).toBe(result.uploaded);
    expect(result.uploaded).toBeGreaterThan(0);
  });

  it('names the registry and the cause when nothing listens there', async () => {
    const { file } = await helloImageArchive('localhost/a/b:1', 'x\n');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(pushImage(await readOciArchive(file), `127.0.0.1:${port}`, '--image')).rejects.toThrow(new RegExp(`registry: HEAD 127.0.0.1:${port}/a/b:1 failed: ECONNREFUSED`));
  });
});

describe('names and addresses', () => {
  it.each([
    ['localhost/kubevirt/virt-handler:devel', 'kubevirt/virt-handler', 'devel'],
    ['registry:5000/kubevirt/virt-api:v1', 'kubevirt/virt-api', 'v1'],
    ['quay.io/kubevirt/virt-launcher', 'kubevirt/virt-launcher', 'latest'],
    ['kubevirt/virt-operator:x', 'kubevirt/virt-operator', 'x'],
  ])('%s goes to repository %s, tag %s', (name, repository, tag) => expect(repositoryOf(name)).toEqual({ repository, tag }));
  it('refuses a registry that is not HOST:PORT, naming the option', () => {
    expect(() => parseRegistry('http://127.0.0.1:5000')).toThrow(/--registry: "http:\/\/127.0.0.1:5000" is not HOST:PORT/);
    expect(() => parseRegistry('127.0.0.1:99999')).toThrow(/--registry/);
    expect(parseRegistry('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});
