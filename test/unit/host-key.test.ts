import { beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, keyBlobType, knownHostsKeys, parsePublicKeyLine } from '../../providers/hosts/host-key.js';

// Keys and hashed known_hosts come from the real ssh-keygen, so the parsing is checked against OpenSSH itself.

const KINDS: [string, string[], string][] = [
  ['ed25519', ['-t', 'ed25519'], 'ssh-ed25519'],
  ['ecdsa256', ['-t', 'ecdsa', '-b', '256'], 'ecdsa-sha2-nistp256'],
  ['ecdsa384', ['-t', 'ecdsa', '-b', '384'], 'ecdsa-sha2-nistp384'],
  ['ecdsa521', ['-t', 'ecdsa', '-b', '521'], 'ecdsa-sha2-nistp521'],
  ['rsa', ['-t', 'rsa', '-b', '2048'], 'ssh-rsa'],
];

let dir = '';
/** "TYPE BASE64" of each generated key, by kind. */
const pub: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dpdkci-host-key-'));
  await Promise.all(
    KINDS.map(async ([kind, args]) => {
      await execa('ssh-keygen', ['-q', ...args, '-N', '', '-C', `key ${kind}`, '-f', join(dir, kind)]);
      pub[kind] = readFileSync(join(dir, `${kind}.pub`), 'utf8').split(' ').slice(0, 2).join(' ');
    }),
  );
});

const blobOf = (line: string) => Buffer.from(line.split(' ')[1] as string, 'base64');

describe('public key lines', () => {
  it.each(KINDS)('a %s key parses, says its type, and has the fingerprint ssh-keygen -lf prints', async (kind, _args, type) => {
    const line = readFileSync(join(dir, `${kind}.pub`), 'utf8');
    const key = parsePublicKeyLine(line);
    expect(key?.type).toBe(type);
    expect(keyBlobType(key!.blob)).toBe(type);
    const printed = (await execa('ssh-keygen', ['-lf', join(dir, `${kind}.pub`)])).stdout.split(' ')[1];
    expect(fingerprint(key!.blob)).toBe(printed);
  });

  it('without a comment, and with extra blanks, a line still parses', () => {
    expect(parsePublicKeyLine(`  ${pub.ed25519!.replace(' ', '\t ')}  `)?.type).toBe('ssh-ed25519');
  });

  const bad: [string, () => string][] = [
    ['an empty line', () => ''],
    ['a type alone', () => 'ssh-ed25519'],
    ['an unsupported type (DSA)', () => `ssh-dss ${pub.ed25519!.split(' ')[1]}`],
    ['a label that is not the blob\'s type', () => `ssh-rsa ${pub.ed25519!.split(' ')[1]}`],
    ['an ECDSA label of the wrong curve', () => `ecdsa-sha2-nistp384 ${pub.ecdsa256!.split(' ')[1]}`],
    ['base64 with a stray character', () => `${pub.ed25519!.slice(0, 30)}!${pub.ed25519!.slice(31)}`],
    ['base64 cut short', () => pub.ed25519!.slice(0, -3)],
    ['a blob that is only its type name', () => `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519')]).toString('base64')}`],
    ['a blob whose length prefix runs past its end', () => `ssh-ed25519 ${Buffer.from([0, 0, 1, 0, 65, 66, 67, 68]).toString('base64')}`],
    ['a known_hosts line (host first)', () => `192.0.2.10 ${pub.ed25519}`],
  ];
  it.each(bad)('%s is refused', (_what, line) => {
    expect(parsePublicKeyLine(line())).toBeUndefined();
  });

  it('a malformed blob has no type', () => {
    expect(keyBlobType(Buffer.alloc(0))).toBe('');
    expect(keyBlobType(Buffer.from([0, 0, 0, 0, 1]))).toBe('');
    expect(keyBlobType(Buffer.from([0, 0, 0, 9, 65]))).toBe('');
  });

  it('the fingerprint is SHA256 in base64 without padding', () => {
    // sha256("") = e3b0c442...; its base64 ends in one "=".
    expect(fingerprint(Buffer.alloc(0))).toBe('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU');
    expect(fingerprint(blobOf(pub.rsa!))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('known_hosts', () => {
  /** Every kind of line ssh-keygen -H hashes or leaves: plain names, [addr]:port, lists, wildcards, markers, comments. */
  const knownHosts = () =>
    [
      '# lab machines',
      '',
      `192.0.2.10 ${pub.ed25519} on port 22`,
      `192.0.2.10 ${pub.ecdsa256}`,
      `[192.0.2.10]:2222,lab1 ${pub.rsa}`,
      `lab2.example.org,192.0.2.11 ${pub.ecdsa384}`,
      `[2001:db8::5]:2200 ${pub.ecdsa521}`,
      `192.0.2.* ${pub.ecdsa521}`,
      `192.0.2.1? ${pub.ecdsa521}`,
      `@revoked 192.0.2.10 ${pub.rsa}`,
      `@cert-authority 192.0.2.10 ${pub.ecdsa384}`,
      `192.0.2.14 ssh-rsa AAAAnotakey`,
      `192.0.2.10 ${pub.ed25519}`,
    ].join('\n');

  const lookups: [string, number, string[]][] = [
    ['192.0.2.10', 22, ['ed25519', 'ecdsa256']],
    ['192.0.2.10', 2222, ['rsa']],
    ['192.0.2.10', 2200, []],
    ['lab1', 22, ['rsa']],
    ['lab2.example.org', 22, ['ecdsa384']],
    ['192.0.2.11', 22, ['ecdsa384']],
    ['192.0.2.11', 2022, []],
    ['2001:db8::5', 2200, ['ecdsa521']],
    ['192.0.2.14', 22, []],
    ['192.0.2.99', 22, []],
  ];
  it.each(lookups)('%s port %d: the keys of its exact, unmarked lines, once each', (address, port, kinds) => {
    expect(knownHostsKeys(knownHosts(), address, port)).toEqual(kinds.map((k) => pub[k]));
  });

  it('a negation that names the host drops the whole line, as in ssh; one naming another host does not', () => {
    const text = `!192.0.2.12,192.0.2.13 ${pub.ed25519}\n!192.0.2.13,192.0.2.13 ${pub.rsa}`;
    expect(knownHostsKeys(text, '192.0.2.12', 22)).toEqual([]);
    expect(knownHostsKeys(text, '192.0.2.13', 22)).toEqual([pub.ed25519]);
  });

  it('host names match without regard to case, as ssh lowercases them', () => {
    expect(knownHostsKeys(knownHosts(), 'LAB2.Example.org', 22)).toEqual([pub.ecdsa384]);
    expect(knownHostsKeys(`Lab1 ${pub.rsa}\r\n`, 'lab1', 22)).toEqual([pub.rsa]);
  });

  it('hashed entries written by ssh-keygen -H match the same hosts, and exactly those ssh-keygen -F finds', async () => {
    const file = join(dir, 'known_hosts');
    writeFileSync(file, knownHosts());
    await execa('ssh-keygen', ['-H', '-f', file]);
    const hashed = readFileSync(file, 'utf8');
    expect(hashed).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /m);
    expect(hashed).not.toMatch(/^(lab1|192\.0\.2\.10)[ ,]/m);
    for (const [address, port, kinds] of lookups) {
      const keys = knownHostsKeys(hashed, address, port);
      expect(keys, `${address}:${port}`).toEqual(kinds.map((k) => pub[k]));
      // ssh-keygen hashes exact names only, so its hashed hits that hold a real key are the pinnable ones.
      const name = port === 22 ? address : `[${address}]:${port}`;
      const found = await execa('ssh-keygen', ['-F', name, '-f', file], { reject: false });
      const lines = found.stdout.split('\n').filter((l) => l.startsWith('|1|'));
      const hits = lines.map((l) => l.split(' ').slice(1, 3).join(' ')).filter((k) => k !== 'ssh-rsa AAAAnotakey');
      expect(keys, `${name} per ssh-keygen -F`).toEqual([...new Set(hits)]);
    }
  });

  it('a hashed entry for another port, or with a broken hash, does not apply', () => {
    const other = `|1|${Buffer.alloc(20, 1).toString('base64')}|${Buffer.alloc(20, 2).toString('base64')} ${pub.ed25519}`;
    expect(knownHostsKeys(other, '192.0.2.10', 22)).toEqual([]);
    expect(knownHostsKeys(`|1|notbase64|x ${pub.ed25519}\n|2|a|b ${pub.ed25519}`, '192.0.2.10', 22)).toEqual([]);
  });
});
