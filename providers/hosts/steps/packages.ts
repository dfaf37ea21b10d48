import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../../src/core/paths.js';

/**
 * The packages a host gets: the node image's list (images/node/packages.txt), without the section that boots
 * a VM (the host has its own kernel and init) and, without Kubernetes, the container runtime's sections.
 */
export function hostPackages(options: { kubernetes: boolean }, text = readFileSync(join(PROJECT_ROOT, 'images', 'node', 'packages.txt'), 'utf8')): string[] {
  const out: string[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      // A section's first comment line names it ("# boot and base system", "# containers and CNI", ...).
      if (!section) section = line.slice(1).trim();
      continue;
    }
    if (!line) {
      section = '';
      continue;
    }
    if (/^boot\b/.test(section)) continue;
    if (!options.kubernetes && (/^containers\b/.test(section) || /kubeadm|kubelet/.test(section))) continue;
    // Debian's containerd 1.x would start a daemon of its own at install; the pinned containerd 2 is
    // installed with Kubernetes (images/node has it only to be shadowed by the layer's).
    if (line === 'containerd') continue;
    out.push(line);
  }
  return out;
}
