import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The real scripts/node/kubernetes.sh, with stand-in kubeadm, kubectl, systemctl and crictl
// (test/fixtures/node-stand-ins) first on PATH, in a private mount namespace whose /etc and /var are overlays
// on a tmpfs: what it writes to /etc/kubernetes, /etc/dpdkci, /var/lib/etcd and /var/log never reaches this
// machine. What the stand-ins prove: the decisions kubernetes.sh takes on what a node holds after a restart.
// What they do not: that a real control plane comes back (no kubelet, etcd or API server runs here).
const ROOT = resolve(__dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'node', 'kubernetes.sh');
const STAND_INS = join(ROOT, 'test', 'fixtures', 'node-stand-ins');

const PRELUDE = `
set -euo pipefail
ns=$STANDIN_ROOT/ns
mount -t tmpfs stand-in-node "$ns"
for d in etc var; do
  mkdir -p "$ns/$d.upper" "$ns/$d.work"
  mount -t overlay "stand-in-$d" -o "lowerdir=/$d,upperdir=$ns/$d.upper,workdir=$ns/$d.work" "/$d"
done
# A fresh node, whatever this machine has of Kubernetes or dpdkci.
rm -rf /etc/kubernetes /etc/dpdkci /var/lib/etcd /var/lib/kubelet /etc/cni/net.d
mkdir -p /var/log /etc/dpdkci/addons
export PATH=$STANDIN_BIN:$PATH
# k ARGS: kubernetes.sh ARGS, its exit code kept in steps.
k() { local rc=0; bash "$SCRIPT" "$@" >>"$STANDIN_NODE/out" 2>>"$STANDIN_NODE/err" || rc=$?; echo "$* -> $rc" >>"$STANDIN_NODE/steps"; }
# The node restarts: its kubelet is not running yet, and its API server fails LATE looks before answering.
restart() { rm -f "$STANDIN_NODE/kubelet-active"; echo "$1" >"$STANDIN_NODE/api-late"; }
keep() { cp "$1" "$STANDIN_NODE/$2"; }
`;

const sudo = process.getuid?.() === 0 ? [] : ['--map-root-user'];

/** Runs BODY on a stand-in node: a new namespace each time, so a node's files last one call. */
function onNode(root: string, body: string, node = 'node01') {
  const dir = join(root, node);
  mkdirSync(dir, { recursive: true });
  mkdirSync(join(root, 'ns'), { recursive: true });
  const env = { ...process.env, STANDIN_ROOT: root, STANDIN_NODE: dir, STANDIN_CLUSTER: join(root, 'cluster'), STANDIN_BIN: STAND_INS, SCRIPT };
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', ...sudo, 'bash', '-c', PRELUDE + body], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  return {
    status: r.status,
    stderr: r.stderr,
    steps: read('steps').trim().split('\n'),
    calls: read('calls').trim().split('\n'),
    out: read('out'),
    err: read('err'),
    read,
  };
}

function scratch(): string {
  const root = mkdtempSync(join(tmpdir(), 'dpdkci-restart-'));
  // The overlays cover /etc and /var: state kept there would vanish with the namespace.
  if (/^\/(etc|var)\//.test(root)) throw new Error(`TMPDIR ${root} is under /etc or /var, which these tests overlay; set TMPDIR elsewhere`);
  mkdirSync(join(root, 'cluster'), { recursive: true });
  return root;
}

/** kubeadm's caCertHashes form of a CA, computed here (node:crypto), not by the script under test. */
function caHash(pem: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

function newCa(root: string, name: string): string {
  const out = join(root, `${name}.crt`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-days', '1', '-keyout', join(root, `${name}.key`), '-out', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return out;
}

// A machine that cannot make a private mount namespace with overlays (no root, no user namespaces) skips these.
const probe = (() => {
  const root = scratch();
  const r = onNode(root, 'true');
  const tools = ['openssl', 'base64', 'sha256sum'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return r.status === 0 && tools.length === 0 ? null : `no private mount namespace with overlays here (${r.stderr.trim()}) or missing ${tools.join(', ')}`;
})();

if (probe) console.warn(`kubernetes-restart: skipped: ${probe}`);

const kubeadmCalls = (calls: string[]) => calls.filter((c) => c.startsWith('kubeadm ')).map((c) => c.split(' ').slice(0, 2).join(' '));

describe.skipIf(probe !== null)('kubernetes.sh after a node restart (real script; stand-in kubeadm, kubectl, systemctl, crictl)', () => {
  it('a node SIGKILLed after a completed init, its kubelet down and its API server answering on the 4th look: check init exits 3, apply init waits, no kubeadm reset, no second init, the add-ons record kept', () => {
    const root = scratch();
    const r = onNode(
      root,
      `echo 'kind: InitConfiguration # stand-in' | k apply init 5
       keep /etc/kubernetes/pki/ca.crt ca-before.crt
       echo abc123 >/etc/dpdkci/addons/addons.sum
       restart 3
       k check init
       echo 'kind: InitConfiguration # stand-in' | k apply init 30
       k check init
       k check addons abc123
       keep /etc/kubernetes/pki/ca.crt ca-after.crt
       keep /etc/dpdkci/addons/addons.sum addons.sum
       keep /etc/dpdkci/kubeadm-init.done marker`,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.steps).toEqual(['apply init 5 -> 0', 'check init -> 3', 'apply init 30 -> 0', 'check init -> 0', 'check addons abc123 -> 0']);
    expect(kubeadmCalls(r.calls)).toEqual(['kubeadm init']);
    // The kubelet was started, and the API server asked until it answered.
    expect(r.calls).toContain('systemctl start kubelet');
    expect(r.out).toMatch(/answers again \(nothing reset\)/);
    expect(r.read('ca-after.crt')).toBe(r.read('ca-before.crt'));
    expect(r.read('marker').trim()).toBe(caHash(r.read('ca-before.crt')).slice('sha256:'.length));
    expect(r.read('addons.sum').trim()).toBe('abc123');
  });

  it('a completed init whose API server does not answer within the bound: apply init exits 1 saying nothing was reset; CA, etcd data and the marker stay', () => {
    const root = scratch();
    const r = onNode(
      root,
      `echo cfg | k apply init 5
       keep /etc/kubernetes/pki/ca.crt ca-before.crt
       restart never
       echo cfg | k apply init 2
       keep /etc/kubernetes/pki/ca.crt ca-after.crt
       test -d /var/lib/etcd/member && echo etcd-kept >>"$STANDIN_NODE/steps"
       test -s /etc/dpdkci/kubeadm-init.done && echo marker-kept >>"$STANDIN_NODE/steps"`,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.steps).toEqual(['apply init 5 -> 0', 'apply init 2 -> 1', 'etcd-kept', 'marker-kept']);
    expect(r.err).toMatch(/kubeadm init completed on this node .* does not answer within 2 s; nothing was reset/);
    // What crictl shows of the control plane is quoted for whoever looks.
    expect(r.err).toContain('kube-apiserver');
    expect(kubeadmCalls(r.calls)).toEqual(['kubeadm init']);
    expect(r.read('ca-after.crt')).toBe(r.read('ca-before.crt'));
  });

  it('an init that never finished (killed half-way, its API server even answering): not complete; apply init resets, inits anew with a new CA and drops the add-ons record', () => {
    const root = scratch();
    const r = onNode(
      root,
      `touch "$STANDIN_NODE/init-dies"
       echo cfg | k apply init 5
       keep /etc/kubernetes/pki/ca.crt ca-killed.crt
       k check init
       rm "$STANDIN_NODE/init-dies"
       echo abc123 >/etc/dpdkci/addons/addons.sum
       echo cfg | k apply init 5
       k check init
       keep /etc/kubernetes/pki/ca.crt ca-new.crt
       keep /etc/dpdkci/kubeadm-init.done marker
       test -e /etc/dpdkci/addons/addons.sum || echo addons-record-dropped >>"$STANDIN_NODE/steps"
       k check addons abc123`,
    );
    expect(r.status, r.stderr).toBe(0);
    // ...so that the same add-ons are applied to the new control plane.
    expect(r.steps).toEqual(['apply init 5 -> 1', 'check init -> 3', 'apply init 5 -> 0', 'check init -> 0', 'addons-record-dropped', 'check addons abc123 -> 3']);
    expect(kubeadmCalls(r.calls)).toEqual(['kubeadm init', 'kubeadm reset', 'kubeadm init']);
    expect(caHash(r.read('ca-new.crt'))).not.toBe(caHash(r.read('ca-killed.crt')));
    expect(`sha256:${r.read('marker').trim()}`).toBe(caHash(r.read('ca-new.crt')));
    // kubernetes.sh prints the CA the workers must now trust.
    expect(r.out).toContain(`a new cluster CA: ${caHash(r.read('ca-new.crt'))}`);
  });

  it("a worker re-joins when the control plane's CA is another than its kubelet.conf trusts (embedded or by file), and only then", () => {
    const root = scratch();
    const ca1 = newCa(root, 'ca1');
    const ca2 = newCa(root, 'ca2');
    const [h1, h2] = [caHash(readFileSync(ca1, 'utf8')), caHash(readFileSync(ca2, 'utf8'))];
    const r = onNode(
      root,
      `cp ${ca1} "$STANDIN_CLUSTER/ca.crt"
       echo cfg | k apply join
       k check join ${h1}
       k check join ${h2}
       cp ${ca2} "$STANDIN_CLUSTER/ca.crt"
       echo cfg | k apply join
       k check join ${h2}
       mkdir -p /etc/kubernetes/pki && cp ${ca1} /etc/kubernetes/pki/ca.crt
       printf 'clusters:\\n- cluster:\\n    certificate-authority: /etc/kubernetes/pki/ca.crt\\n' >/etc/kubernetes/kubelet.conf
       k check join ${h1}
       k check join ${h2}`,
      'node02',
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.steps).toEqual(['apply join -> 0', `check join ${h1} -> 0`, `check join ${h2} -> 3`, 'apply join -> 0', `check join ${h2} -> 0`, `check join ${h1} -> 0`, `check join ${h2} -> 3`]);
    expect(kubeadmCalls(r.calls)).toEqual(['kubeadm join', 'kubeadm reset', 'kubeadm join']);
    expect(r.out).toContain(`kubelet.conf trusts the CA ${h1}, not the control plane's ${h2}`);
  });
});

