import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from './errors.js';

/** Host programs dpdkci runs, with the Debian package that provides each. */
export const HOST_TOOLS: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  vde_switch: 'vde2',
  'ssh-keygen': 'openssh-client',
  ssh: 'openssh-client',
  scp: 'openssh-client',
  debootstrap: 'debootstrap',
  'mkfs.ext4': 'e2fsprogs',
  // unpacks the node kernel for PVH boot (src/image/pvh-kernel.ts)
  xz: 'xz-utils',
  'docker-registry': 'docker-registry',
};

export function onPath(tool: string, path: string): boolean {
  return path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Fails with exit 2 naming every missing tool, its package and the one command that installs them. */
export function requireHostTools(tools: readonly string[], path: string): void {
  const missing = tools.filter((t) => !onPath(t, path));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => HOST_TOOLS[t] ?? t))];
  throw new UsageError(
    `missing host tools: ${missing.map((t) => `${t} (package ${HOST_TOOLS[t] ?? '?'})`).join(', ')}; ` +
      `install them with \`make deps\` or \`apt-get install -y ${packages.join(' ')}\``,
  );
}

export const TOOLS_FOR_UP = ['qemu-system-x86_64', 'qemu-img', 'vde_switch', 'ssh-keygen', 'debootstrap', 'mkfs.ext4', 'xz'];
