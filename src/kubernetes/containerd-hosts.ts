import type { RegistryMirror } from '../core/registry-mirrors.js';
import { registryEndpoint } from '../core/registry-mirrors.js';

/** containerd's registry config_path on a Kubernetes node, as scripts/image-layer/install-kubernetes.sh sets it. */
export const CONTAINERD_HOSTS_DIR = '/etc/containerd/certs.d';

export interface ContainerdHostsFile {
  /** CONTAINERD_HOSTS_DIR/HOST/hosts.toml: containerd's registry host namespace is the directory's name. */
  path: string;
  text: string;
}

// Checked again here, although the CLI parsed them: the host names a directory on every node.
const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;

/**
 * One hosts.toml per mirrored registry host, after containerd's docs/hosts.md
 * (containerd/containerd@db8809540e1a7a9da5d518876894933ff55692ab, v2.3.4): `server` is the registry itself,
 * tried after the `host` entries; the mirror is the one host, trusted to pull and to resolve a tag to a
 * digest (the digests the lock pins are checked whichever answers). A mirror URL's path is kept as it is:
 * containerd puts /v2 after it, as dpdkci's own look-ups do (registryEndpoint). Changes need no restart of
 * containerd (the same document). `nodeUrl` is the mirror's URL as the nodes reach it (the provider's).
 */
export function containerdHostsFiles(mirrors: readonly RegistryMirror[], nodeUrl: (url: string) => string): ContainerdHostsFile[] {
  return mirrors.map((m) => {
    if (!HOST.test(m.host)) throw new Error(`internal: registry host "${m.host}" was not checked at the CLI`);
    // TOML basic strings take JSON's escapes for what a URL can hold.
    const text = [
      `# Written by dpdkci (--registry-mirror ${m.host}=${m.url}): pulls and look-ups for ${m.host} go to the mirror first.`,
      `server = ${JSON.stringify(registryEndpoint([], m.host))}`,
      '',
      `[host.${JSON.stringify(nodeUrl(m.url))}]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n');
    return { path: `${CONTAINERD_HOSTS_DIR}/${m.host}/hosts.toml`, text };
  });
}
