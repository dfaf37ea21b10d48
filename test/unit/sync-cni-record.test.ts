import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

/**
 * `sync --cni-bin` on a host (sync.sh cni, run here for real in a directory of its own): what it records for
 * down. A plugin the host had before dpdkci is kept to be put back; one that dpdkci's Kubernetes wrote (the
 * install, or calico and multus at run time) is left to that Kubernetes' undo, which runs first.
 */
const SCRIPT = join(__dirname, '..', '..', 'scripts', 'node', 'sync.sh');

function host(opts: { cniDir?: Record<string, string>; kubernetes?: string[] } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-sync-cni-'));
  const rec = join(root, 'rec');
  const cni = join(root, 'opt', 'cni', 'bin');
  mkdirSync(rec);
  writeFileSync(join(rec, 'host-state'), 'prefix=lab\n');
  if (opts.cniDir) {
    mkdirSync(cni, { recursive: true });
    for (const [name, text] of Object.entries(opts.cniDir)) writeFileSync(join(cni, name), text);
  }
  if (opts.kubernetes) writeFileSync(join(rec, 'kubernetes-state'), `prefix=lab\n${opts.kubernetes.map((l) => l.replace('CNI', cni)).join('\n')}\n`);
  const push = async (name: string, text: string) => {
    const r = await execa('bash', [SCRIPT, 'cni', name], { input: text, reject: false, env: { ...process.env, DPDKCI_CNI_DIR: cni, DPDKCI_HOST_RECORD_DIR: rec } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(cni, name), 'utf8')).toBe(text);
  };
  const records = () => readFileSync(join(rec, 'host-state'), 'utf8').split('\n').filter((l) => l.startsWith('cni_'));
  const kept = (name: string) => (existsSync(join(rec, 'cni-backup', name)) ? readFileSync(join(rec, 'cni-backup', name), 'utf8') : null);
  return { root, rec, cni, push, records, kept };
}

describe('sync.sh cni: what a push to a host records for down', () => {
  it('records nothing on a node dpdkci booted (no host-state)', async () => {
    const h = host();
    rmSync(join(h.rec, 'host-state'));
    await h.push('userspace', 'dev');
    expect(existsSync(join(h.rec, 'host-state'))).toBe(false);
    expect(h.kept('userspace')).toBeNull();
  });

  it('without Kubernetes: keeps a copy of the host plugin it replaces, once, and names the directories it made', async () => {
    const h = host({ cniDir: { userspace: 'host build' } });
    await h.push('userspace', 'dev 1');
    await h.push('userspace', 'dev 2');
    await h.push('extra', 'new');
    expect(h.records()).toEqual(['cni_dirs_created=', 'cni_replaced=userspace', 'cni_added=extra']);
    expect(h.kept('userspace')).toBe('host build');
    const bare = host();
    await bare.push('userspace', 'dev');
    expect(bare.records()).toEqual([`cni_dirs_created=${bare.cni} ${join(bare.root, 'opt', 'cni')} `, 'cni_added=userspace']);
  });

  it("before dpdkci's Kubernetes is installed, the host's own plugin is kept, whatever the install writes later", async () => {
    const h = host({ cniDir: { userspace: 'host build' } });
    await h.push('userspace', 'dev');
    // The install then records the pushed build as what the directory held, and writes its own.
    writeFileSync(join(h.rec, 'kubernetes-state'), `prefix=lab\nhad=/opt/cni/bin\nentry_had=${h.cni}/userspace\nreplaced=${h.cni}/userspace\n`);
    await h.push('userspace', 'dev again');
    // A plugin first pushed after the install is left to Kubernetes' undo, which knows the directory as it found it.
    await h.push('fresh', 'new');
    expect(h.records()).toEqual(['cni_dirs_created=', 'cni_replaced=userspace', 'cni_over_kubernetes=fresh']);
    expect(h.kept('fresh')).toBeNull();
    expect(h.kept('userspace')).toBe('host build');
  });

  it("under dpdkci's Kubernetes: what the install or calico wrote is left to Kubernetes' undo, the host's own plugin is kept", async () => {
    const h = host({
      cniDir: { userspace: 'pinned', calico: 'calico wrote this', 'host-plugin': 'the host one', bridge: 'pinned' },
      // The host had userspace and host-plugin; the install replaced userspace and wrote bridge.
      kubernetes: ['had=/opt/cni/bin', 'entry_had=CNI/userspace', 'entry_had=CNI/host-plugin', 'target=CNI/userspace', 'replaced=CNI/userspace', 'target=CNI/bridge'],
    });
    for (const name of ['userspace', 'calico', 'bridge', 'host-plugin', 'fresh']) await h.push(name, 'dev');
    expect(h.records()).toEqual([
      'cni_dirs_created=',
      'cni_over_kubernetes=userspace',
      'cni_over_kubernetes=calico',
      'cni_over_kubernetes=bridge',
      'cni_replaced=host-plugin',
      'cni_over_kubernetes=fresh',
    ]);
    expect(['userspace', 'calico', 'bridge', 'fresh'].map(h.kept)).toEqual([null, null, null, null]);
    expect(h.kept('host-plugin')).toBe('the host one');
  });

  it("under dpdkci's Kubernetes on a host that had no /opt/cni/bin: nothing is kept, the undo removes the directory", async () => {
    const h = host({ cniDir: { userspace: 'pinned' }, kubernetes: ['target=CNI/userspace'] });
    await h.push('userspace', 'dev');
    expect(h.records()).toEqual(['cni_dirs_created=', 'cni_over_kubernetes=userspace']);
    expect(h.kept('userspace')).toBeNull();
  });
});
