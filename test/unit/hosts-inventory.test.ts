import { beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadInventory, parseInventory, requireNodeIps } from '../../providers/hosts/inventory.js';
import { UsageError } from '../../src/core/errors.js';

// Real files in a temp dir: keys made by ssh-keygen, a known_hosts hashed by ssh-keygen -H, a fake home for ~.

let dir = '';
let home = '';
let inventoryFile = '';
/** The host key line as ssh-keygen writes it ("TYPE BASE64 comment"), and as it is pinned ("TYPE BASE64"). */
let hostKeyLine = '';
let hostKey = '';
let otherHostKey = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dpdkci-inventory-'));
  home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(join(dir, 'lab', 'keys'), { recursive: true });
  inventoryFile = join(dir, 'lab', 'inventory.yaml');
  const keygen = (file: string, type = 'ed25519') => execa('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'root@lab', '-f', file]);
  await Promise.all([keygen(join(home, '.ssh', 'id_ed25519')), keygen(join(dir, 'lab', 'keys', 'id')), keygen(join(dir, 'hostkey')), keygen(join(dir, 'otherkey'), 'ecdsa')]);
  copyFileSync(join(home, '.ssh', 'id_ed25519'), join(dir, 'open_key'));
  chmodSync(join(dir, 'open_key'), 0o644);
  hostKeyLine = readFileSync(join(dir, 'hostkey.pub'), 'utf8').trim();
  hostKey = hostKeyLine.split(' ').slice(0, 2).join(' ');
  otherHostKey = readFileSync(join(dir, 'otherkey.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = join(dir, 'lab', 'known_hosts');
  writeFileSync(knownHosts, `lab2.example.org ${hostKey}\n[lab2.example.org]:2222 ${otherHostKey}\n[lab2.example.org]:2222 ${hostKey}\n`);
  await execa('ssh-keygen', ['-H', '-f', knownHosts]);
});

const GOOD1 = () => ({ name: 'lab1', address: '192.0.2.10', keyFile: '~/.ssh/id_ed25519', hostKey: hostKeyLine, nic: '0000:03:00.0' });
const GOOD2 = () => ({ name: 'lab2', address: '192.0.2.11', keyFile: '~/.ssh/id_ed25519', hostKey, nic: 'enp3s0' });
const doc = (hosts: unknown[], extra: object = {}) => stringify({ hosts, ...extra });
const without = (host: Record<string, unknown>, field: string) => Object.fromEntries(Object.entries(host).filter(([k]) => k !== field));

/** The problem lines of the UsageError that parsing the text throws, after checking its header counts them. */
function problemsOf(text: string): string[] {
  let thrown: unknown;
  try {
    parseInventory(text, inventoryFile, home);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(UsageError);
  const [header, ...lines] = (thrown as UsageError).message.split('\n');
  expect(header).toBe(`--inventory ${inventoryFile}: ${lines.length} problem(s):`);
  // Each names where (a host, or the file), the field, and after "; " the fix.
  for (const line of lines) expect(line).toMatch(/^ {2}(host "[a-z0-9-]+" \(hosts\[\d+\]\), field \w+|hosts\[\d+\](, field \w+)?|field \w+|the file): .+; .+/);
  return lines;
}

describe('the hosts inventory', () => {
  it('a good inventory: defaults applied, paths made absolute, keys pinned, NICs normalised', () => {
    const text = doc([
      GOOD1(),
      { name: 'lab2', address: 'lab2.example.org', port: 2222, user: 'debian', keyFile: 'keys/id', knownHostsFile: './known_hosts', nic: '04:00.1' },
      { name: 'lab3', address: '2001:db8::5', keyFile: join(home, '.ssh', 'id_ed25519'), hostKey, role: 'worker', nic: 'enp3s0f1' },
      { ...GOOD1(), name: 'lab4', port: 2200 },
    ]);
    expect(parseInventory(text, inventoryFile, home)).toEqual({
      file: inventoryFile,
      hosts: [
        { name: 'lab1', address: '192.0.2.10', port: 22, user: 'root', keyFile: join(home, '.ssh', 'id_ed25519'), hostKeys: [hostKey], role: 'control-plane', nic: { pci: '0000:03:00.0' }, nodeIp: '192.0.2.10' },
        // The hashed known_hosts has two keys for [lab2.example.org]:2222, and one for port 22 that does not apply.
        { name: 'lab2', address: 'lab2.example.org', port: 2222, user: 'debian', keyFile: join(dir, 'lab', 'keys', 'id'), hostKeys: [otherHostKey, hostKey], role: 'worker', nic: { pci: '0000:04:00.1' } },
        { name: 'lab3', address: '2001:db8::5', port: 22, user: 'root', keyFile: join(home, '.ssh', 'id_ed25519'), hostKeys: [hostKey], role: 'worker', nic: { iface: 'enp3s0f1' } },
        { name: 'lab4', address: '192.0.2.10', port: 2200, user: 'root', keyFile: join(home, '.ssh', 'id_ed25519'), hostKeys: [hostKey], role: 'worker', nic: { pci: '0000:03:00.0' }, nodeIp: '192.0.2.10' },
      ],
    });
  });

  it('a host that says it is the control-plane is, and the first host is then a worker', () => {
    const inv = parseInventory(doc([GOOD1(), { ...GOOD2(), role: 'control-plane' }]), inventoryFile, home);
    expect(inv.hosts.map((h) => h.role)).toEqual(['worker', 'control-plane']);
  });

  it('loadInventory reads the file, and names a file it cannot read', () => {
    writeFileSync(inventoryFile, doc([GOOD1()]));
    expect(loadInventory(inventoryFile, home).hosts.map((h) => h.name)).toEqual(['lab1']);
    expect(() => loadInventory(join(dir, 'nope.yaml'), home)).toThrow(new UsageError(`--inventory ${join(dir, 'nope.yaml')}: 1 problem(s):\n  the file: cannot be read (ENOENT); give the path of the inventory YAML (README, "Your own machines")`));
    expect(() => loadInventory(dir, home)).toThrow(/: 1 problem\(s\):\n {2}the file: cannot be read \(EISDIR\)/);
  });

  // Expectations that name temp paths are functions: the table is built before beforeAll makes them.
  const bad: [string, () => string, RegExp[] | (() => RegExp[])][] = [
    ['not YAML', () => 'hosts: [\n', [/^ {2}the file: is not YAML \(.+\); fix the syntax$/]],
    ['an empty file', () => '', [/the file: its top level is empty, not a map/]],
    ['a list at the top level', () => '- lab1\n', [/the file: its top level is a list, not a map; give a map with a hosts: list/]],
    ['no hosts list', () => 'host:\n  - name: lab1\n', [/field host: unknown field at the top level; the inventory has only hosts:/, /field hosts: missing; list the machines/]],
    ['hosts not a list', () => 'hosts: lab1\n', [/field hosts: "lab1", not a list; list the machines/]],
    ['an empty hosts list', () => 'hosts: []\n', [/field hosts: an empty list; list the machines/]],
    ['a host that is not a map', () => doc([GOOD1(), 'lab2']), [/^ {2}hosts\[1\]: is "lab2", not a map; give each host as a map of name, address, port, user, keyFile, hostKey, knownHostsFile, role, nic, nodeIp$/]],
    ['a typo in a field name', () => doc([{ ...without(GOOD1(), 'keyFile'), keyfile: '~/.ssh/id_ed25519' }]), [/host "lab1" \(hosts\[0\]\), field keyfile: unknown field \(did you mean keyFile\?\); the fields of a host are name, address, port, user, keyFile, hostKey, knownHostsFile, role, nic, nodeIp/, /field keyFile: missing; give the private key/]],
    ['an unknown field', () => doc([{ ...GOOD1(), password: 'x' }]), [/field password: unknown field; the fields of a host are/]],
    ['no name', () => doc([without(GOOD1(), 'name')]), [/^ {2}hosts\[0\], field name: missing; give the node name, e.g. lab1$/]],
    ['no address', () => doc([without(GOOD1(), 'address')]), [/host "lab1" \(hosts\[0\]\), field address: missing; give the address ssh reaches the host at/]],
    ['no keyFile', () => doc([without(GOOD1(), 'keyFile')]), [/field keyFile: missing; give the private key dpdkci logs in with, e.g. ~\/.ssh\/id_ed25519/]],
    ['no nic', () => doc([without(GOOD1(), 'nic')]), [/field nic: missing; give the DPDK NIC: its PCI address \(lspci -D\) or its interface name \(ip -br link\)/]],
    ['a bad name', () => doc([{ ...GOOD1(), name: 'Lab_1' }]), [/^ {2}hosts\[0\], field name: "Lab_1" is not a node name; give a lowercase letter, then up to 30 lowercase letters, digits or -$/]],
    ['a name too long', () => doc([{ ...GOOD1(), name: `a${'b'.repeat(31)}` }]), [/hosts\[0\], field name: "abbb.+ is not a node name/]],
    ['a name that is a number', () => doc([{ ...GOOD1(), name: 12 }]), [/hosts\[0\], field name: 12 is not a string; quote it/]],
    ['a duplicate name', () => doc([GOOD1(), { ...GOOD2(), name: 'lab1' }]), [/host "lab1" \(hosts\[1\]\), field name: "lab1" is also the name of host "lab1" \(hosts\[0\]\); give each host its own name/]],
    ['a duplicate address and port', () => doc([GOOD1(), { ...GOOD2(), address: '192.0.2.10' }]), [/host "lab2" \(hosts\[1\]\), field address: "192.0.2.10" port 22 is also host "lab1" \(hosts\[0\]\); list each machine once/]],
    ['a mistyped IPv4 address', () => doc([{ ...GOOD1(), address: '192.0.2.300' }]), [/field address: "192.0.2.300" is neither an IP address nor a DNS name; give the address ssh reaches/]],
    ['an IPv6 address in brackets', () => doc([{ ...GOOD1(), address: '[2001:db8::5]' }]), [/field address: "\[2001:db8::5\]" is neither .*IPv6 without brackets/]],
    ['an address with a blank', () => doc([{ ...GOOD1(), address: 'lab 1' }]), [/field address: "lab 1" is neither/]],
    ['port 0', () => doc([{ ...GOOD1(), port: 0 }]), [/field port: 0 is not a port; give the host's SSH port, an integer 1-65535 \(default 22\)/]],
    ['port 70000', () => doc([{ ...GOOD1(), port: 70000 }]), [/field port: 70000 is not a port/]],
    ['a fractional port', () => doc([{ ...GOOD1(), port: 22.5 }]), [/field port: 22.5 is not a port/]],
    ['a quoted port', () => doc([{ ...GOOD1(), port: '22' }]), [/field port: "22" is not a port/]],
    ['a bad user', () => doc([{ ...GOOD1(), user: 'Root' }]), [/field user: "Root" is not a user name; give the login user/]],
    ['a user with a blank', () => doc([{ ...GOOD1(), user: 'a b' }]), [/field user: "a b" is not a user name/]],
    ['a keyFile that is not there', () => doc([{ ...GOOD1(), keyFile: '~/.ssh/id_nope' }]), () => [new RegExp(`field keyFile: "~/.ssh/id_nope" \\(${join(home, '.ssh', 'id_nope')}\\) does not exist; give the private key whose .pub is in ~root/.ssh/authorized_keys on the host`)]],
    ['a keyFile that is a directory', () => doc([{ ...GOOD1(), keyFile: dir }]), () => [new RegExp(`field keyFile: "${dir}" is not a regular file; give the private key file itself`)]],
    ['a keyFile others can read', () => doc([{ ...GOOD1(), keyFile: '../open_key' }]), () => [new RegExp(`field keyFile: "../open_key" \\(${join(dir, 'open_key')}\\) is open to group or others \\(mode 0644\\) and ssh refuses such a key; run chmod 600 ${join(dir, 'open_key')}$`)]],
    ['a keyFile that is the public key', () => doc([{ ...GOOD1(), keyFile: '~/.ssh/id_ed25519.pub' }]), [/field keyFile: .+ is not a private key \(no "PRIVATE KEY-----" line; a .pub file\?\); give the private key itself/]],
    ['both hostKey and knownHostsFile', () => doc([{ ...GOOD1(), knownHostsFile: './known_hosts' }]), [/field hostKey: given together with knownHostsFile; give exactly one of them/]],
    ['neither hostKey nor knownHostsFile', () => doc([{ ...without(GOOD1(), 'hostKey'), port: 2222 }]), [/field hostKey: missing, and no knownHostsFile either; pin the host's key: get it with `ssh-keyscan -p 2222 -t ed25519 192.0.2.10 \| cut -d' ' -f2-` and check its fingerprint \(`ssh-keyscan -p 2222 -t ed25519 192.0.2.10 \| ssh-keygen -lf -`\) against `ssh-keygen -lf \/etc\/ssh\/ssh_host_ed25519_key.pub` run on the host itself/]],
    ['a hostKey that is not a key', () => doc([{ ...GOOD1(), hostKey: 'ssh-ed25519 AAAA' }]), [/field hostKey: "ssh-ed25519 AAAA" is not an SSH public key line \("TYPE BASE64", TYPE one of ssh-ed25519, .*ssh-rsa\); get it with `ssh-keyscan -p 22/]],
    ['a hostKey labelled with another type', () => doc([{ ...GOOD1(), hostKey: hostKey.replace('ssh-ed25519', 'ssh-rsa') }]), [/field hostKey: "ssh-rsa AAAA.+\.\.\." is not an SSH public key line/]],
    ['a hostKey as ssh-keyscan prints it', () => doc([{ ...GOOD1(), hostKey: `192.0.2.10 ${hostKey}` }]), [/field hostKey: "192.0.2.10 ssh-ed25519 .+ is not an SSH public key line.*cut -d' ' -f2-/]],
    ['a knownHostsFile that is not there', () => doc([{ ...without(GOOD1(), 'hostKey'), knownHostsFile: '~/.ssh/known_hosts' }]), () => [new RegExp(`field knownHostsFile: "~/.ssh/known_hosts" \\(${join(home, '.ssh', 'known_hosts')}\\) cannot be read \\(ENOENT\\); give a known_hosts file that has the host's key, or pin it with hostKey`)]],
    ['a knownHostsFile without the host', () => doc([{ ...without(GOOD1(), 'hostKey'), address: 'lab2.example.org', port: 2200, knownHostsFile: 'known_hosts' }]), [/field knownHostsFile: "known_hosts" \(.+\) has no ssh-ed25519\/.+ key for \[lab2.example.org\]:2200 \(wildcard lines are not trusted\); add one: get it with `ssh-keyscan -p 2200 -t ed25519 lab2.example.org/]],
    ['a bad role', () => doc([{ ...GOOD1(), role: 'master' }]), [/field role: "master" is not a role; give control-plane or worker \(default: the first host control-plane, the others worker\)/]],
    ['two control-planes', () => doc([{ ...GOOD1(), role: 'control-plane' }, { ...GOOD2(), role: 'control-plane' }]), [/^ {2}host "lab2" \(hosts\[1\]\), field role: "control-plane", but host "lab1" \(hosts\[0\]\) is the control-plane already; dpdkci brings up one, set role: worker$/]],
    ['no control-plane', () => doc([{ ...GOOD1(), role: 'worker' }, GOOD2()]), [/^ {2}field hosts: no host is the control-plane; set role: control-plane on one of them$/]],
    ['a NIC that is neither', () => doc([{ ...GOOD1(), nic: 'eth 0' }]), [/^ {2}host "lab1" \(hosts\[0\]\), field nic: "eth 0" is neither a PCI address \(0000:03:00.0\) nor an interface name; give the DPDK NIC as one of them$/]],
    ['a PCI address in uppercase', () => doc([{ ...GOOD1(), nic: '0000:0A:00.0' }]), [/field nic: "0000:0A:00.0" has uppercase hex; write the PCI address in lowercase, as `lspci -D` prints it/]],
    ['a PCI device number past 1f', () => doc([{ ...GOOD1(), nic: '0000:03:20.0' }]), [/field nic: "0000:03:20.0" is neither a PCI address/]],
    ['an interface name too long', () => doc([{ ...GOOD1(), nic: 'enp3s0f1np1vf123' }]), [/field nic: "enp3s0f1np1vf123" is neither/]],
    ['a NIC as a number', () => doc([{ ...GOOD1(), nic: 3 }]), [/field nic: 3 is not a string; quote it/]],
    ['a nodeIp that is not IPv4', () => doc([{ ...GOOD1(), nodeIp: '2001:db8::1' }]), [/host "lab1" \(hosts\[0\]\), field nodeIp: "2001:db8::1" is not an IPv4 address; give the host's IPv4 address on the network the hosts share/]],
    ['a loopback nodeIp', () => doc([{ ...GOOD1(), nodeIp: '127.0.0.1' }]), [/field nodeIp: "127.0.0.1" is a loopback address, which no other host reaches; give/]],
  ];
  it.each(bad)('refuses %s, naming the host, field, value and fix', (_what, text, expected) => {
    const lines = problemsOf(text());
    const want = typeof expected === 'function' ? expected() : expected;
    expect(lines).toHaveLength(want.length);
    want.forEach((re, i) => expect(lines[i]).toMatch(re));
  });

  it('with --kubernetes every host needs a node IP of its own: its nodeIp, or an IPv4 address it is reached at', () => {
    const inv = parseInventory(
      doc([{ ...GOOD1(), address: '127.0.0.1' }, { ...GOOD2(), address: 'lab2.example.org' }, { ...GOOD2(), name: 'lab3', address: '192.0.2.20', nodeIp: '10.0.0.3' }, { ...GOOD2(), name: 'lab4', address: '192.0.2.21', nodeIp: '10.0.0.3' }]),
      inventoryFile,
      home,
    );
    expect(inv.hosts.map((h) => h.nodeIp)).toEqual([undefined, undefined, '10.0.0.3', '10.0.0.3']);
    expect(() => requireNodeIps(inv, '--kubernetes 1.36')).toThrow(
      new UsageError(
        `--inventory ${inventoryFile}: 3 problem(s):\n` +
          `  host "lab1" (hosts[0]), field nodeIp: missing, and its address "127.0.0.1" is a loopback address, which no other host reaches; give nodeIp, the host's IPv4 address on the network the hosts share, for --kubernetes 1.36\n` +
          `  host "lab2" (hosts[1]), field nodeIp: missing, and its address "lab2.example.org" is a DNS name; give nodeIp, the host's IPv4 address on the network the hosts share, for --kubernetes 1.36\n` +
          `  host "lab4" (hosts[3]), field nodeIp: "10.0.0.3" is also the node IP of host "lab3"; give each host its own nodeIp (--kubernetes 1.36)`,
      ),
    );
    // Without Kubernetes nothing needs one.
    expect(parseInventory(doc([{ ...GOOD1(), address: '127.0.0.1' }]), inventoryFile, home).hosts[0]?.nodeIp).toBeUndefined();
  });

  it('reports every problem of every host at once, a host without a valid name by its index', () => {
    const lines = problemsOf(doc([{ name: 'Bad', address: 'a b', port: -1, keyFile: '~/.ssh/id_nope', nic: 'eth 0', role: 'boss' }, { ...GOOD2(), user: 'A' }], { version: 1 }));
    expect(lines.map((l) => l.replace(/:.*/s, ''))).toEqual([
      '  field version',
      '  hosts[0], field name',
      '  hosts[0], field address',
      '  hosts[0], field port',
      '  hosts[0], field keyFile',
      '  hosts[0], field hostKey',
      '  hosts[0], field role',
      '  hosts[0], field nic',
      '  host "lab2" (hosts[1]), field user',
    ]);
  });
});
