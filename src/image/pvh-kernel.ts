import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { execa } from 'execa';

/**
 * The node kernel as an uncompressed ELF that QEMU can start at its PVH entry point.
 *
 * Under TCG, a bzImage spends about 3 s of every boot decompressing itself before its first line is
 * printed (measured here: "Linux version" 3.6 s after QEMU starts, against 0.4 s for the same kernel
 * unpacked). QEMU boots an ELF kernel through PVH when the kernel carries a PVH entry note
 * (Xen ELF note 18, CONFIG_PVH), which Debian's amd64 kernels do. So the image build unpacks the
 * bzImage's payload once, and nodes boot that.
 *
 * Layout used (Linux x86 boot protocol 2.08 and later): the setup code is (setup_sects + 1) sectors of
 * 512 bytes; payload_offset (0x248) and payload_length (0x24c) then locate the compressed kernel inside
 * the protected-mode part, and its last four bytes are the uncompressed size (little-endian).
 */

/** The decompressors the kernel can be built with, by the magic bytes its payload starts with. */
const FORMATS: { name: string; magic: number[]; argv: string[] }[] = [
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], argv: ['xz', '--decompress', '--stdout', '--single-stream'] },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], argv: ['zstd', '--decompress', '--stdout', '--quiet'] },
  { name: 'gzip', magic: [0x1f, 0x8b], argv: ['gzip', '--decompress', '--stdout'] },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], argv: ['lz4', '--decompress', '--stdout'] },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], argv: ['bzip2', '--decompress', '--stdout'] },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], argv: ['xz', '--format=lzma', '--decompress', '--stdout', '--single-stream'] },
];

export interface BzImagePayload {
  format: string;
  argv: string[];
  /** Where the compressed kernel starts in the file, and its length (the trailing size included). */
  offset: number;
  length: number;
  /** The uncompressed size that the kernel build appended. */
  size: number;
}

/** Reads a bzImage's header and finds its compressed payload; throws with the reason when it cannot. */
export function bzImagePayload(image: Buffer): BzImagePayload {
  if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new Error('not a bzImage (no "HdrS" boot header)');
  const version = image.readUInt16LE(0x206);
  if (version < 0x208) throw new Error(`boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} is older than 2.08, which has no payload fields`);
  const setupSects = image.readUInt8(0x1f1) || 4;
  const offset = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (length < 8 || offset + length > image.length) throw new Error(`the payload (offset ${offset}, ${length} bytes) lies outside the ${image.length}-byte file`);
  const format = FORMATS.find((f) => f.magic.every((b, i) => image[offset + i] === b));
  if (!format) throw new Error(`the payload's compression is not one dpdkci can unpack (first bytes ${image.subarray(offset, offset + 6).toString('hex')})`);
  return { format: format.name, argv: format.argv, offset, length, size: image.readUInt32LE(offset + length - 4) };
}

const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** Reads length bytes at offset (fewer at the end of the file). */
export type ReadAt = (offset: number, length: number) => Buffer;

export const bufferReader =
  (buf: Buffer): ReadAt =>
  (offset, length) =>
    buf.subarray(offset, offset + length);

/**
 * Whether an ELF64 file carries the PVH entry note (name "Xen", type 18) in one of its PT_NOTE segments.
 * Reads only the headers and the notes: a kernel is tens of megabytes and its notes sit in the middle.
 */
export function hasPvhNote(read: ReadAt): boolean {
  const eh = read(0, 64);
  if (eh.length < 64 || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return false;
  const phoff = Number(eh.readBigUInt64LE(0x20));
  const phentsize = eh.readUInt16LE(0x36);
  const phnum = eh.readUInt16LE(0x38);
  if (phentsize < 56) return false;
  for (let i = 0; i < phnum; i++) {
    const ph = read(phoff + i * phentsize, 56);
    if (ph.length < 56 || ph.readUInt32LE(0) !== PT_NOTE) continue;
    const notes = read(Number(ph.readBigUInt64LE(8)), Math.min(1 << 20, Number(ph.readBigUInt64LE(32))));
    for (let n = 0; n + 12 <= notes.length; ) {
      const namesz = notes.readUInt32LE(n);
      const descsz = notes.readUInt32LE(n + 4);
      const type = notes.readUInt32LE(n + 8);
      const name = notes.toString('latin1', n + 12, n + 12 + Math.max(0, namesz - 1));
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      n += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

const align4 = (n: number) => (n + 3) & ~3;

/** hasPvhNote on a file, reading only what it asks for. */
function fileHasPvhNote(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    return hasPvhNote((offset, length) => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, offset));
    });
  } finally {
    closeSync(fd);
  }
}

export type PvhResult = { ok: true; format: string } | { ok: false; reason: string };

/**
 * Unpacks bzImage into out (written beside it, renamed into place) when the result is an ELF kernel with a
 * PVH entry; otherwise writes nothing and says why, and the bzImage is booted as before.
 */
export async function extractPvhKernel(bzImage: string, out: string): Promise<PvhResult> {
  let payload: BzImagePayload;
  const image = readFileSync(bzImage);
  try {
    payload = bzImagePayload(image);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const tmp = `${out}.partial-${process.pid}`;
  const [file, ...args] = payload.argv as [string, ...string[]];
  try {
    const r = await execa(file, args, {
      input: image.subarray(payload.offset, payload.offset + payload.length),
      stdout: { file: tmp },
      reject: false,
    });
    // The payload ends with the size the kernel build appended, which some decompressors call trailing
    // garbage; what counts is that the whole kernel came out.
    const got = (() => {
      try {
        return statSync(tmp).size;
      } catch {
        return -1;
      }
    })();
    if (got !== payload.size) {
      const why = r.failed && r.exitCode === undefined ? `${file} could not be run (${r.shortMessage})` : `${file} gave ${got < 0 ? 'nothing' : `${got} bytes`}, the header says ${payload.size}${r.stderr ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`;
      rmSync(tmp, { force: true });
      return { ok: false, reason: `unpacking the ${payload.format} payload failed: ${why}` };
    }
    if (!fileHasPvhNote(tmp)) {
      rmSync(tmp, { force: true });
      return { ok: false, reason: 'the unpacked kernel has no PVH entry note (built without CONFIG_PVH)' };
    }
    renameSync(tmp, out);
    return { ok: true, format: payload.format };
  } catch (e) {
    rmSync(tmp, { force: true });
    return { ok: false, reason: (e as Error).message };
  }
}
