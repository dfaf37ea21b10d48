import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * SSH host keys as the inventory pins them: public key lines ("TYPE BASE64"), their fingerprints, and the
 * keys a known_hosts file holds for one host. Pure: no file is read here.
 */

/** The key types dpdkci pins; DSA and the certificate types are left out on purpose. */
export const HOST_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

/** The type string a public key blob starts with (RFC 4253 6.6: uint32 length, then the name); '' if malformed. */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > blob.length - 4) return '';
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** The fingerprint `ssh-keygen -lf` prints: SHA256 of the blob, base64 without padding. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Canonical base64 only: Buffer.from() would silently skip stray characters. */
function strictBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const blob = Buffer.from(text, 'base64');
  return blob.toString('base64') === text ? blob : undefined;
}

/** "TYPE BASE64 [comment]" for a supported TYPE whose blob says the same type; else undefined. */
export function parsePublicKeyLine(line: string): { type: string; blob: Buffer } | undefined {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !(HOST_KEY_TYPES as readonly string[]).includes(type)) return undefined;
  const blob = strictBase64(data);
  // A blob that is only its type name carries no key.
  if (!blob || keyBlobType(blob) !== type || blob.length <= 4 + type.length) return undefined;
  return { type, blob };
}

/** The name ssh looks a host up by: the bare address on port 22, else [address]:port (sshd(8) SSH_KNOWN_HOSTS). */
function lookupName(address: string, port: number): string {
  const host = address.toLowerCase();
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `|1|salt|hmac`: HMAC-SHA1 keyed by the salt over the lookup name, as `ssh-keygen -H` writes it. */
function hashedMatches(pattern: string, name: string): boolean {
  const [, magic, salt, mac] = pattern.split('|');
  if (magic !== '1' || !salt || !mac) return false;
  const want = Buffer.from(mac, 'base64');
  const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Whether a host pattern list applies: exact names and hashes only; wildcards are never trusted for a pin. */
function patternsApply(patterns: string, name: string): boolean {
  let hit = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('|')) hit ||= hashedMatches(p, name);
    // A negation that names the host excludes the line, as in ssh; other negations say nothing.
    else if (p.startsWith('!')) {
      if (p.slice(1).toLowerCase() === name) return false;
    } else if (!/[*?]/.test(p)) hit ||= p.toLowerCase() === name;
  }
  return hit;
}

/** The "TYPE BASE64" keys a known_hosts text holds for address:port, in file order, without repeats. */
export function knownHostsKeys(text: string, address: string, port: number): string[] {
  const name = lookupName(address, port);
  const keys: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // Comments, blanks, and marker lines (@revoked, @cert-authority): none of them pins a key.
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const [patterns, type, data] = line.split(/\s+/);
    if (!patterns || !type || !data || !patternsApply(patterns, name)) continue;
    const key = parsePublicKeyLine(`${type} ${data}`);
    const pinned = key && `${key.type} ${key.blob.toString('base64')}`;
    if (pinned && !keys.includes(pinned)) keys.push(pinned);
  }
  return keys;
}
