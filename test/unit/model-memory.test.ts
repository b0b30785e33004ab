import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageDirectory } from '../../src/images/directory.js';
import { Magic } from '../../src/images/magic.js';
import { RootFile } from '../../src/model/backing-file.js';
import { MemoryReader, type MemoryRegion } from '../../src/model/memory.js';
import { PagemapIndex, PE_LAZY, PE_PARENT, PE_PRESENT } from '../../src/images/pagemap.js';
import { RootFs, RootPathError } from '../../src/rootfs/resolve.js';
import { image, imageDir, PAGE, pagemapImage, pages } from '../helpers/build-image.js';


const BASE = 0x10000;

/** A dump whose pid 7 has 8 pages at BASE: present, parent, hole, present, lazy, and parent pages. */
function incrementalDump(): { dir: ImageDirectory; path: string } {
  const root = imageDir({});
  const pre = join(root, 'pre');
  const final = join(root, 'final');
  mkdirSync(pre);
  mkdirSync(final);
  writeFileSync(join(pre, 'pagemap-7.img'), pagemapImage(1, [[BASE + PAGE, 1, PE_PRESENT], [BASE + 5 * PAGE, 2, PE_PRESENT]]));
  writeFileSync(join(pre, 'pages-1.img'), pages(0xb1, 0xb5, 0xb6));
  writeFileSync(
    join(final, 'pagemap-7.img'),
    pagemapImage(2, [
      [BASE, 1, PE_PRESENT],
      [BASE + PAGE, 1, PE_PARENT],
      [BASE + 3 * PAGE, 1, PE_PRESENT],
      [BASE + 4 * PAGE, 1, PE_LAZY],
      [BASE + 5 * PAGE, 2, PE_PARENT],
    ]),
  );
  writeFileSync(join(final, 'pages-2.img'), pages(0xa0, 0xa3));
  symlinkSync('../pre', join(final, 'parent'));
  return { dir: ImageDirectory.openRoot(final), path: final };
}

const anonRegion: MemoryRegion = { start: BigInt(BASE), end: BigInt(BASE + 8 * PAGE), content: { type: 'private', holes: { type: 'zero' } } };

describe('memory reader', () => {
  it('finds present data at the running offset of earlier present runs only', () => {
    const { dir } = incrementalDump();
    const memory = new MemoryReader(dir, 'pagemap-7.img', [anonRegion], 4096);
    expect(memory.readExact(BigInt(BASE), 1)[0]).toBe(0xa0);
    // The second present run follows the first present one in pages-2.img, whatever lies between.
    expect(memory.readExact(BigInt(BASE + 3 * PAGE + 17), 1)[0]).toBe(0xa3);
  });

  it('reads PE_PARENT pages from the parent images', () => {
    const { dir } = incrementalDump();
    const memory = new MemoryReader(dir, 'pagemap-7.img', [anonRegion], 4096);
    expect(memory.readExact(BigInt(BASE + PAGE), 4).toString('hex')).toBe('b1b1b1b1');
    expect(memory.readExact(BigInt(BASE + 6 * PAGE), 2).toString('hex')).toBe('b6b6');
  });

  it('reads holes of anonymous private memory as zero', () => {
    const { dir } = incrementalDump();
    const memory = new MemoryReader(dir, 'pagemap-7.img', [anonRegion], 4096);
    const read = memory.read(BigInt(BASE + 2 * PAGE), PAGE);
    expect(read.unavailable).toEqual([]);
    expect(read.data.equals(Buffer.alloc(PAGE))).toBe(true);
    expect(memory.read(BigInt(BASE + 7 * PAGE), PAGE).unavailable).toEqual([]);
  });

  it('reports lazy pages and unmapped memory as unavailable, with exact ranges', () => {
    const { dir } = incrementalDump();
    const memory = new MemoryReader(dir, 'pagemap-7.img', [anonRegion], 4096);
    const read = memory.read(BigInt(BASE + 3 * PAGE + PAGE / 2), PAGE);
    expect(read.unavailable).toEqual([
      { start: BigInt(BASE + 4 * PAGE), end: BigInt(BASE + 4 * PAGE + PAGE / 2), reason: 'lazy pages are not in the images' },
    ]);
    expect(memory.readAvailable(BigInt(BASE + 3 * PAGE + PAGE / 2), PAGE).length).toBe(PAGE / 2);
    const outside = memory.read(BigInt(BASE + 8 * PAGE - 2), 4);
    expect(outside.unavailable).toEqual([{ start: BigInt(BASE + 8 * PAGE), end: BigInt(BASE + 8 * PAGE + 2), reason: 'not mapped' }]);
  });

  it('says so when the pages file is shorter than the pagemap needs', () => {
    const path = imageDir({ 'pagemap-7.img': pagemapImage(1, [[BASE, 2, PE_PRESENT]]), 'pages-1.img': pages(0x11) });
    const memory = new MemoryReader(ImageDirectory.openRoot(path), 'pagemap-7.img', [anonRegion], 4096);
    const read = memory.read(BigInt(BASE), 2 * PAGE);
    expect(read.unavailable).toHaveLength(1);
    expect(read.unavailable[0]!.reason).toBe('pages-1.img holds 4096 bytes but pagemap-7.img needs 8192');
  });

  it('reads shared memory objects by offset and their holes as zero', () => {
    const path = imageDir({
      'pagemap-7.img': pagemapImage(1, []),
      'pagemap-shmem-99.img': pagemapImage(3, [[PAGE, 1, PE_PRESENT]]),
      'pages-3.img': pages(0x5e),
    });
    const region: MemoryRegion = { start: 0x400000n, end: 0x402000n, content: { type: 'shmem', image: 'pagemap-shmem-99.img', offset: 0n } };
    const memory = new MemoryReader(ImageDirectory.openRoot(path), 'pagemap-7.img', [region], 4096);
    expect(memory.readExact(0x401000n, 1)[0]).toBe(0x5e);
    expect(memory.readExact(0x400000n, 1)[0]).toBe(0);
  });

  it('fills private file mappings from the file under the root, with a zero tail and a fault past it', () => {
    const root = imageDir({});
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib', 'data.bin'), Buffer.alloc(PAGE + 100, 0x33));
    const file = new RootFile(new RootFs(root), { path: '/lib/data.bin', size: BigInt(PAGE + 100) });
    const dumpPath = imageDir({ 'pagemap-7.img': pagemapImage(1, [[0x500000, 1, PE_PRESENT]]), 'pages-1.img': pages(0x77) });
    const region: MemoryRegion = { start: 0x500000n, end: 0x503000n, content: { type: 'private', holes: { type: 'file', source: file, offset: 0n } } };
    const memory = new MemoryReader(ImageDirectory.openRoot(dumpPath), 'pagemap-7.img', [region], 4096);
    const read = memory.read(0x500000n, 3 * PAGE);
    expect(read.data[0]).toBe(0x77); // the dirtied page comes from the images
    expect(read.data[PAGE]).toBe(0x33); // the clean page from the file
    expect(read.data[PAGE + 100]).toBe(0); // past EOF within the last page
    expect(read.unavailable).toEqual([{ start: 0x502000n, end: 0x503000n, reason: '/lib/data.bin: beyond the end of the mapped file' }]);
  });

  it('refuses a file whose build-id or size differs from the recorded one', () => {
    const root = imageDir({ 'data.bin': Buffer.alloc(PAGE, 1) });
    const wrongSize = new RootFile(new RootFs(root), { path: '/data.bin', size: 5n });
    const region: MemoryRegion = { start: 0x500000n, end: 0x501000n, content: { type: 'file', source: wrongSize, offset: 0n } };
    const memory = new MemoryReader(ImageDirectory.openRoot(imageDir({})), 'pagemap-7.img', [region], 4096);
    expect(memory.read(0x500000n, 4).unavailable[0]!.reason).toBe('/data.bin: size is 4096, the checkpoint recorded 5');
    const wrongId = new RootFile(new RootFs(root), { path: '/data.bin', buildId: Buffer.from('abcd', 'hex') });
    expect(wrongId.size()).toBeUndefined();
    expect(wrongId.problem()).toBe('/data.bin: build-id none does not match the recorded abcd');
  });
});

describe('pagemap decoding', () => {
  it('reads old entries that carry in_parent and compat_nr_pages instead of flags and nr_pages', () => {
    const old = image(Magic.pagemap, [
      { type: 'PagemapHead', fields: { pages_id: 1 } },
      { type: 'PagemapEntry', fields: { vaddr: BASE, compat_nr_pages: 1 } },
      { type: 'PagemapEntry', fields: { vaddr: BASE + PAGE, compat_nr_pages: 2, in_parent: true } },
    ]);
    const index = PagemapIndex.read(ImageDirectory.openRoot(imageDir({ 'pagemap-7.img': old })), 'pagemap-7.img', 4096)!;
    expect(index.runs.map((r) => [Number(r.start), Number(r.end - r.start) / PAGE, r.flags])).toEqual([
      [BASE, 1, PE_PRESENT],
      [BASE + PAGE, 2, PE_PARENT],
    ]);
  });

  it('names the image and offset of a damaged entry', () => {
    const good = pagemapImage(1, [[BASE, 1, PE_PRESENT]]);
    const bad = Buffer.concat([good, Buffer.from([3, 0, 0, 0, 0x08, 0xff, 0xff])]); // vaddr varint never ends
    const dir = ImageDirectory.openRoot(imageDir({ 'pagemap-7.img': bad }));
    expect(() => PagemapIndex.read(dir, 'pagemap-7.img', 4096)).toThrow(`pagemap-7.img: varint runs past the end of the entry (at offset ${good.length + 7})`);
    const overlap = pagemapImage(1, [[BASE, 2, PE_PRESENT], [BASE + PAGE, 1, PE_PRESENT]]);
    expect(() => PagemapIndex.read(ImageDirectory.openRoot(imageDir({ 'pagemap-7.img': overlap })), 'pagemap-7.img', 4096)).toThrow(/runs overlap at 0x11000/);
  });
});

describe('root containment', () => {
  it('resolves absolute symlinks inside the root, not on the host', () => {
    const root = imageDir({ 'real.so': Buffer.from('inside') });
    mkdirSync(join(root, 'lib'));
    symlinkSync('/real.so', join(root, 'lib', 'link.so'));
    symlinkSync('../../../../real.so', join(root, 'lib', 'climb.so'));
    const fs = new RootFs(root);
    expect(fs.resolve('/lib/link.so')).toBe(join(fs.root, 'real.so'));
    expect(fs.resolve('/lib/climb.so')).toBe(join(fs.root, 'real.so'));
  });

  it("refuses recorded paths with '..' and links to missing files", () => {
    const root = imageDir({});
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    const fs = new RootFs(root);
    expect(() => fs.resolve('/../etc/passwd')).toThrow(RootPathError);
    expect(() => fs.resolve('/passwd')).toThrow(/does not exist under/);
  });
});
