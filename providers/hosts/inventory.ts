import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../../src/core/errors.js';
import type { Inventory, InventoryHost } from '../../src/core/inventory.js';
import { HOST_KEY_TYPES, knownHostsKeys, parsePublicKeyLine } from './host-key.js';
import { ADDRESSES_PER_NODE, VHOSTUSER_MAX_NODES, VHOSTUSER_SUBNET } from '../../src/kubernetes/vhostuser-network.js';

/**
 * The inventory of `--provider hosts`: the machines that become the cluster's nodes. Read and validated here,
 * once; every problem is collected and reported together, each naming the host, the field, the value and the fix.
 */


const FIELDS = ['name', 'address', 'port', 'user', 'keyFile', 'hostKey', 'knownHostsFile', 'role', 'nic', 'nodeIp'] as const;
const ROLES = ['control-plane', 'worker'] as const;
const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const USER = /^[a-z_][a-z0-9_-]*$/;
// PCI device numbers are 5 bits (00-1f), functions 3 bits.
const PCI = /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/;
const PCI_SHORT = /^[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/;
const MISSING: Record<string, string> = {
  name: 'give the node name, e.g. lab1',
  address: 'give the address ssh reaches the host at',
  keyFile: 'give the private key dpdkci logs in with, e.g. ~/.ssh/id_ed25519',
  nic: 'give the DPDK NIC: its PCI address (lspci -D) or its interface name (ip -br link)',
};
const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A value as the user wrote it, short enough for one line. */
function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 56)}..."` : text;
}

function isAddress(text: string): boolean {
  if (isIP(text) !== 0) return true;
  // All digits and dots is a mistyped IPv4 address, never a DNS name.
  if (text.length > 253 || /^[\d.]+$/.test(text)) return false;
  return text.replace(/\.$/, '').split('.').every((label) => DNS_LABEL.test(label));
}

/** ~ is the given home (the shell is not there to expand it); relative paths start at the inventory's directory. */
function expandPath(path: string, dir: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? join(home, path.slice(1)) : resolve(dir, path);
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** What is wrong with a private key file, or undefined; ssh itself refuses a key others can read. */
function keyFileProblem(path: string, user: string): string | undefined {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return `cannot be read (${errorCode(error)}); make ${path} readable by you`;
    return `does not exist; give the private key whose .pub is in ~${user}/.ssh/authorized_keys on the host (ssh-keygen -t ed25519 -f ${path} makes one)`;
  }
  if (!stat.isFile()) return `is not a regular file; give the private key file itself`;
  let text;
  try {
    text = readFileSync(path, 'latin1');
  } catch (error) {
    return `cannot be read (${errorCode(error)}); make ${path} readable by you`;
  }
  // Content first: a .pub given by mistake is also 0644, and chmod would be the wrong advice.
  if (!text.includes('PRIVATE KEY-----')) return `is not a private key (no "PRIVATE KEY-----" line; a .pub file?); give the private key itself`;
  if (stat.mode & 0o077) return `is open to group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}) and ssh refuses such a key; run chmod 600 ${path}`;
  return undefined;
}

/** How to get and check a host's key: from the network, compared with what the host itself says it is. */
function pinHowTo(address: string, port: number): string {
  const scan = `ssh-keyscan -p ${port} -t ed25519 ${address}`;
  return `get it with \`${scan} | cut -d' ' -f2-\` and check its fingerprint (\`${scan} | ssh-keygen -lf -\`) against \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` run on the host itself`;
}

/** One host as far as it could be read: the fields that passed, for the checks across hosts. */
interface Draft extends Partial<InventoryHost> {
  where: string;
  roleGiven: boolean;
}

function readHost(raw: unknown, index: number, dir: string, home: string, problems: string[]): Draft {
  const at = `hosts[${index}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`  ${at}: is ${show(raw)}, not a map; give each host as a map of ${FIELDS.join(', ')}`);
    return { where: at, roleGiven: false };
  }
  const map = raw as Record<string, unknown>;
  const name = typeof map.name === 'string' && NAME.test(map.name) ? map.name : undefined;
  const d: Draft = { where: name ? `host "${name}" (${at})` : at, name, roleGiven: false };
  const bad = (field: string, detail: string) => problems.push(`  ${d.where}, field ${field}: ${detail}`);
  const given = (field: string) => map[field] !== undefined && map[field] !== null;
  const text = (field: string, required: boolean): string | undefined => {
    if (!given(field)) {
      if (required) bad(field, `missing; ${MISSING[field]}`);
      return undefined;
    }
    if (typeof map[field] === 'string') return map[field] as string;
    bad(field, `${show(map[field])} is not a string; quote it`);
    return undefined;
  };

  for (const field of Object.keys(map)) {
    if ((FIELDS as readonly string[]).includes(field)) continue;
    const near = FIELDS.find((f) => f.toLowerCase() === field.toLowerCase());
    bad(field, `unknown field${near ? ` (did you mean ${near}?)` : ''}; the fields of a host are ${FIELDS.join(', ')}`);
  }

  const rawName = text('name', true);
  if (rawName !== undefined && !name) bad('name', `${show(rawName)} is not a node name; give a lowercase letter, then up to 30 lowercase letters, digits or -`);

  const address = text('address', true);
  if (address !== undefined && isAddress(address)) d.address = address;
  else if (address !== undefined) bad('address', `${show(address)} is neither an IP address nor a DNS name; give the address ssh reaches the host at (IPv6 without brackets)`);

  const port = given('port') ? map.port : 22;
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) d.port = port;
  else bad('port', `${show(port)} is not a port; give the host's SSH port, an integer 1-65535 (default 22)`);

  d.user = text('user', false) ?? 'root';
  if (!USER.test(d.user)) bad('user', `${show(d.user)} is not a user name; give the login user (^[a-z_][a-z0-9_-]*$, default root)`);

  const keyFile = text('keyFile', true);
  const keyPath = keyFile === undefined ? undefined : expandPath(keyFile, dir, home);
  const keyProblem = keyPath && keyFileProblem(keyPath, d.user);
  if (keyProblem) bad('keyFile', `${show(keyFile)}${keyPath === keyFile ? '' : ` (${keyPath})`} ${keyProblem}`);
  else d.keyFile = keyPath;

  const hostKey = text('hostKey', false);
  const knownHostsFile = text('knownHostsFile', false);
  const pin = pinHowTo(d.address ?? 'ADDRESS', d.port ?? 22);
  if (given('hostKey') && given('knownHostsFile')) {
    bad('hostKey', `given together with knownHostsFile; give exactly one of them`);
  } else if (!given('hostKey') && !given('knownHostsFile')) {
    bad('hostKey', `missing, and no knownHostsFile either; pin the host's key: ${pin}, and set hostKey to that "ssh-ed25519 AAAA..." line`);
  } else if (hostKey !== undefined) {
    const key = parsePublicKeyLine(hostKey);
    if (key) d.hostKeys = [`${key.type} ${key.blob.toString('base64')}`];
    else bad('hostKey', `${show(hostKey)} is not an SSH public key line ("TYPE BASE64", TYPE one of ${HOST_KEY_TYPES.join(', ')}); ${pin}`);
  } else if (knownHostsFile !== undefined) {
    const path = expandPath(knownHostsFile, dir, home);
    const shown = `${show(knownHostsFile)}${path === knownHostsFile ? '' : ` (${path})`}`;
    let content: string | undefined;
    try {
      content = readFileSync(path, 'utf8');
    } catch (error) {
      bad('knownHostsFile', `${shown} cannot be read (${errorCode(error)}); give a known_hosts file that has the host's key, or pin it with hostKey: ${pin}`);
    }
    // Without a good address and port there is nothing to look up; those fields are reported already.
    if (content !== undefined && d.address && d.port) {
      const keys = knownHostsKeys(content, d.address, d.port);
      const lookup = d.port === 22 ? d.address : `[${d.address}]:${d.port}`;
      if (keys.length > 0) d.hostKeys = keys;
      else bad('knownHostsFile', `${shown} has no ${HOST_KEY_TYPES.join('/')} key for ${lookup} (wildcard lines are not trusted); add one: ${pin}, then append it as "${lookup} ssh-ed25519 AAAA..."`);
    }
  }

  const role = text('role', false);
  d.roleGiven = given('role');
  if (role !== undefined && (ROLES as readonly string[]).includes(role)) d.role = role as InventoryHost['role'];
  else if (role !== undefined) bad('role', `${show(role)} is not a role; give control-plane or worker (default: the first host control-plane, the others worker)`);

  const nic = text('nic', true);
  if (nic !== undefined && PCI.test(nic)) d.nic = { pci: nic };
  else if (nic !== undefined && PCI_SHORT.test(nic)) d.nic = { pci: `0000:${nic}` };
  else if (nic !== undefined && IFACE.test(nic)) d.nic = { iface: nic };
  else if (nic !== undefined && (PCI.test(nic.toLowerCase()) || PCI_SHORT.test(nic.toLowerCase()))) bad('nic', `${show(nic)} has uppercase hex; write the PCI address in lowercase, as \`lspci -D\` prints it`);
  else if (nic !== undefined) bad('nic', `${show(nic)} is neither a PCI address (0000:03:00.0) nor an interface name; give the DPDK NIC as one of them`);

  const nodeIp = text('nodeIp', false);
  if (nodeIp !== undefined && isIP(nodeIp) === 4 && !unusableNodeIp(nodeIp)) d.nodeIp = nodeIp;
  else if (nodeIp !== undefined) {
    bad('nodeIp', `${show(nodeIp)} is ${isIP(nodeIp) === 4 ? unusableNodeIp(nodeIp) : 'not an IPv4 address'}; give the host's IPv4 address on the network the hosts share (ip -br -4 addr)`);
  } else if (d.address && isIP(d.address) === 4 && !unusableNodeIp(d.address)) d.nodeIp = d.address;
  return d;
}

/** Why an IPv4 address cannot be a node's address for the other nodes, or undefined. */
function unusableNodeIp(ip: string): string | undefined {
  if (ip.startsWith('127.')) return 'a loopback address, which no other host reaches';
  if (ip === '0.0.0.0' || ip === '255.255.255.255') return 'not a host address';
  return undefined;
}

/**
 * With --kubernetes every host needs a node IP: its nodeIp, or its address when that is one; and there are
 * no more hosts than the vhost-user network has blocks of addresses. Said at `up`, since the inventory
 * itself does not know whether Kubernetes is wanted.
 */
export function requireNodeIps(inventory: Inventory, via: string): void {
  const count = inventory.hosts.length;
  const problems =
    count > VHOSTUSER_MAX_NODES
      ? [`  field hosts: ${count} hosts; with ${via} each node gets its own ${ADDRESSES_PER_NODE} addresses of the vhost-user network ${VHOSTUSER_SUBNET}, enough for ${VHOSTUSER_MAX_NODES} nodes; list at most ${VHOSTUSER_MAX_NODES} hosts`]
      : [];
  problems.push(...inventory.hosts.flatMap((h, i) => {
    if (h.nodeIp) return [];
    const why = isIP(h.address) === 4 ? unusableNodeIp(h.address) : isIP(h.address) === 6 ? 'an IPv6 address (dpdkci\'s Kubernetes is IPv4)' : 'a DNS name';
    return [`  host "${h.name}" (hosts[${i}]), field nodeIp: missing, and its address ${show(h.address)} is ${why}; give nodeIp, the host's IPv4 address on the network the hosts share, for ${via}`];
  }));
  inventory.hosts.forEach((h, i) => {
    const twin = inventory.hosts.slice(0, i).find((o) => o.nodeIp && o.nodeIp === h.nodeIp);
    if (twin) problems.push(`  host "${h.name}" (hosts[${i}]), field nodeIp: ${show(h.nodeIp)} is also the node IP of host "${twin.name}"; give each host its own nodeIp (${via})`);
  });
  if (problems.length) fail(inventory.file, problems);
}

/** Names, address:port pairs and roles are checked across hosts, hosts with other problems included. */
function crossCheck(drafts: Draft[], problems: string[]): void {
  drafts.forEach((d, i) => {
    const twin = drafts.slice(0, i).find((o) => o.name !== undefined && o.name === d.name);
    if (twin) problems.push(`  ${d.where}, field name: ${show(d.name)} is also the name of ${twin.where}; give each host its own name`);
    const same = drafts.slice(0, i).find((o) => o.address !== undefined && o.address.toLowerCase() === d.address?.toLowerCase() && d.port !== undefined && o.port === d.port);
    if (same) problems.push(`  ${d.where}, field address: ${show(d.address)} port ${d.port} is also ${same.where}; list each machine once`);
  });
  const chosen = drafts.filter((d) => d.roleGiven && d.role === 'control-plane');
  // The first host is the control-plane unless some host says which one is.
  if (chosen.length === 0 && drafts[0] && !drafts[0].roleGiven) drafts[0].role = 'control-plane';
  for (const extra of chosen.slice(1)) {
    problems.push(`  ${extra.where}, field role: "control-plane", but ${chosen[0]?.where} is the control-plane already; dpdkci brings up one, set role: worker`);
  }
  // A role that did not parse is reported already; whether it meant control-plane is not known.
  const unreadRole = drafts.some((d) => d.roleGiven && d.role === undefined);
  for (const d of drafts) d.role ??= 'worker';
  if (!unreadRole && !drafts.some((d) => d.role === 'control-plane')) {
    problems.push(`  field hosts: no host is the control-plane; set role: control-plane on one of them`);
  }
}

function fail(file: string, problems: string[]): never {
  throw new UsageError(`--inventory ${file}: ${problems.length} problem(s):\n${problems.join('\n')}`);
}

/** The inventory from its YAML text; `file` places relative paths, `home` expands ~. */
export function parseInventory(text: string, file: string, home: string): Inventory {
  const abs = resolve(file);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    fail(abs, [`  the file: is not YAML (${(error as Error).message.split('\n')[0]}); fix the syntax`]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    fail(abs, [`  the file: its top level is ${doc === undefined || doc === null ? 'empty' : show(doc)}, not a map; give a map with a hosts: list`]);
  }
  const top = doc as Record<string, unknown>;
  const problems = Object.keys(top).filter((k) => k !== 'hosts').map((k) => `  field ${k}: unknown field at the top level; the inventory has only hosts:`);
  if (!Array.isArray(top.hosts) || top.hosts.length === 0) {
    const what = top.hosts === undefined ? 'missing' : Array.isArray(top.hosts) ? 'an empty list' : `${show(top.hosts)}, not a list`;
    fail(abs, [...problems, `  field hosts: ${what}; list the machines, each with at least name, address, keyFile, hostKey and nic`]);
  }
  const drafts = top.hosts.map((raw, i) => readHost(raw, i, dirname(abs), home, problems));
  crossCheck(drafts, problems);
  if (problems.length > 0) fail(abs, problems);
  return { file: abs, hosts: drafts.map((d) => ({ name: d.name!, address: d.address!, port: d.port!, user: d.user!, keyFile: d.keyFile!, hostKeys: d.hostKeys!, role: d.role!, nic: d.nic!, ...(d.nodeIp ? { nodeIp: d.nodeIp } : {}) })) };
}

/** Reads and parses the inventory file; one that cannot be read is a usage error naming it. */
export function loadInventory(file: string, home: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(resolve(file), [`  the file: cannot be read (${errorCode(error)}); give the path of the inventory YAML (README, "Your own machines")`]);
  }
  return parseInventory(text, file, home);
}
