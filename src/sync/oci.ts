import { execa } from 'execa';
import { UsageError } from '../core/errors.js';

/** What sync needs to know of an image archive: the names it carries and its manifest digest. */
export interface OciArchive {
  file: string;
  names: string[];
  digest: string;
}

interface Descriptor {
  digest?: string;
  annotations?: Record<string, string>;
}

/**
 * Reads index.json out of an OCI image archive (docker save of Docker 25+, podman/buildah oci-archive, or
 * one written by hand): the image name (io.containerd.image.name, else org.opencontainers.image.ref.name)
 * and the manifest digest, which is what containerd reports once the image is imported.
 */
export async function readOciArchive(file: string, option = '--image'): Promise<OciArchive> {
  const r = await execa('tar', ['-xOf', file, 'index.json'], { reject: false, encoding: 'utf8' });
  if (r.exitCode !== 0) {
    throw new UsageError(
      `${option}: ${file} is not an OCI image archive (no index.json in it: ${String(r.stderr).trim().split('\n')[0]}); write one with \`docker save\` (Docker 25+), \`podman save --format oci-archive\` or \`buildah push IMAGE oci-archive:FILE\``,
    );
  }
  let index: { manifests?: Descriptor[] };
  try {
    index = JSON.parse(String(r.stdout));
  } catch {
    throw new UsageError(`${option}: ${file} has an index.json that is not JSON`);
  }
  const manifests = index.manifests ?? [];
  const names = manifests.map((m) => m.annotations?.['io.containerd.image.name'] ?? m.annotations?.['org.opencontainers.image.ref.name']).filter((n): n is string => Boolean(n));
  const digest = manifests[0]?.digest;
  if (manifests.length !== 1 || !digest || names.length !== 1) {
    throw new UsageError(
      `${option}: ${file} must hold exactly one image with a full name (annotation io.containerd.image.name, e.g. localhost/kubevirt/virt-handler:devel); it holds ${manifests.length} manifest(s) and names [${names.join(', ')}]`,
    );
  }
  if (!/[/:]/.test(names[0] as string)) {
    throw new UsageError(`${option}: ${file} names its image "${names[0]}", which is a bare tag; containerd needs a full name such as localhost/NAME:${names[0]}`);
  }
  return { file, names, digest };
}
