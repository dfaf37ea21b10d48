import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { bufferReader, bzImagePayload, extractPvhKernel, hasPvhNote } from '../../src/image/pvh-kernel.js';

/**
 * A stand-in kernel: an ELF64 header, one PT_NOTE program header and its notes, then filler. The real one
 * (Debian's, unpacked from the node image) is booted by the e2e tier.
 */
function elfKernel(notes: { name: string; type: number }[], filler = 4096): Buffer {
  const noteBufs = notes.map(({ name, type }) => {
    const nameBytes = Buffer.from(`${name}\0`, 'latin1');
    const padded = Buffer.alloc((nameBytes.length + 3) & ~3);
    nameBytes.copy(padded);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(nameBytes.length, 0);
    head.writeUInt32LE(4, 4);
    head.writeUInt32LE(type, 8);
    return Buffer.concat([head, padded, Buffer.from([0x00, 0x00, 0x00, 0x01])]);
  });
  const noteData = Buffer.concat(noteBufs);
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2; // 64-bit
  eh[5] = 1; // little-endian
  eh[6] = 1;
  eh.writeBigUInt64LE(64n, 0x20); // program headers right after the ELF header
  eh.writeUInt16LE(64, 0x34);
  eh.writeUInt16LE(56, 0x36);
  eh.writeUInt16LE(1, 0x38);
  // The notes go after some filler, as in a real kernel, where they sit tens of megabytes in.
  const noteOffset = 64 + 56 + filler;
  const ph = Buffer.alloc(56);
  ph.writeUInt32LE(4, 0); // PT_NOTE
  ph.writeBigUInt64LE(BigInt(noteOffset), 8);
  ph.writeBigUInt64LE(BigInt(noteData.length), 32);
  return Buffer.concat([eh, ph, Buffer.alloc(filler, 0x90), noteData]);
}

/** A bzImage around a compressed payload: boot header fields as in the x86 boot protocol 2.15. */
function bzImage(compressed: Buffer, uncompressedSize: number, setupSects = 3, payloadOffset = 100): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32LE(uncompressedSize);
  const payload = Buffer.concat([compressed, size]);
  const start = (setupSects + 1) * 512 + payloadOffset;
  const image = Buffer.alloc(start + payload.length + 64);
  image.writeUInt8(setupSects, 0x1f1);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x20f, 0x206);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(payload.length, 0x24c);
  payload.copy(image, start);
  return image;
}

const xz = (data: Buffer) => execFileSync('xz', ['--compress', '--stdout', '--check=crc32'], { input: data });

const dir = mkdtempSync(join(tmpdir(), 'dpdkci-pvh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(data: Buffer): string {
  const path = join(dir, `vmlinuz-${++n}`);
  writeFileSync(path, data);
  return path;
}

describe('the PVH entry note', () => {
  it('is found among other notes, and only with name Xen and type 18', () => {
    expect(hasPvhNote(bufferReader(elfKernel([{ name: 'GNU', type: 3 }, { name: 'Xen', type: 18 }])))).toBe(true);
    expect(hasPvhNote(bufferReader(elfKernel([{ name: 'Xen', type: 17 }, { name: 'Linux', type: 18 }])))).toBe(false);
    expect(hasPvhNote(bufferReader(Buffer.from('not an ELF file at all, but long enough to have a header of sixty-four bytes')))).toBe(false);
  });
});

describe('bzImage payload', () => {
  it('is located from setup_sects and payload_offset, with its format and uncompressed size', () => {
    const elf = elfKernel([{ name: 'Xen', type: 18 }]);
    const p = bzImagePayload(bzImage(xz(elf), elf.length, 5, 300));
    expect(p).toMatchObject({ format: 'xz', offset: 6 * 512 + 300, size: elf.length });
  });

  it('a file without the boot header, or with an old protocol, is refused with the reason', () => {
    expect(() => bzImagePayload(Buffer.alloc(4096))).toThrow(/not a bzImage \(no "HdrS" boot header\)/);
    const old = bzImage(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 10);
    old.writeUInt16LE(0x206, 0x206);
    expect(() => bzImagePayload(old)).toThrow(/boot protocol 2\.06 is older than 2\.08/);
    const odd = bzImage(Buffer.from('LZO?LZO?'), 10);
    expect(() => bzImagePayload(odd)).toThrow(/compression is not one dpdkci can unpack \(first bytes 4c5a4f3f4c5a\)/);
  });
});

describe('extractPvhKernel', () => {
  it('unpacks an xz kernel to the exact ELF, written whole or not at all', async () => {
    const elf = elfKernel([{ name: 'Xen', type: 18 }], 200_000);
    const out = join(dir, 'vmlinux-xz');
    expect(await extractPvhKernel(file(bzImage(xz(elf), elf.length)), out)).toEqual({ ok: true, format: 'xz' });
    expect(readFileSync(out).equals(elf)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('unpacks a gzip kernel although gzip calls the appended size trailing garbage', async () => {
    const elf = elfKernel([{ name: 'Xen', type: 18 }]);
    const out = join(dir, 'vmlinux-gz');
    expect(await extractPvhKernel(file(bzImage(gzipSync(elf), elf.length)), out)).toEqual({ ok: true, format: 'gzip' });
    expect(readFileSync(out).equals(elf)).toBe(true);
  });

  it('a kernel without the PVH note is not kept, and the reason names CONFIG_PVH', async () => {
    const elf = elfKernel([{ name: 'GNU', type: 3 }]);
    const out = join(dir, 'vmlinux-nopvh');
    expect(await extractPvhKernel(file(bzImage(xz(elf), elf.length)), out)).toEqual({ ok: false, reason: 'the unpacked kernel has no PVH entry note (built without CONFIG_PVH)' });
    expect(existsSync(out)).toBe(false);
  });

  it('a damaged payload gives the decompressor\'s complaint and leaves nothing', async () => {
    const elf = elfKernel([{ name: 'Xen', type: 18 }], 50_000);
    const packed = xz(elf);
    packed.fill(0x41, 40, 80);
    const out = join(dir, 'vmlinux-bad');
    const r = await extractPvhKernel(file(bzImage(packed, elf.length)), out);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(/^unpacking the xz payload failed: xz gave \d+ bytes, the header says \d+: xz: .+/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('a file that is no bzImage is reported, not thrown', async () => {
    const out = join(dir, 'vmlinux-none');
    expect(await extractPvhKernel(file(Buffer.from('#!/bin/sh\n')), out)).toEqual({ ok: false, reason: 'not a bzImage (no "HdrS" boot header)' });
  });
});
