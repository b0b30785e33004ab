import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageDirectory } from '../../src/images/directory.js';
import { EntryReader } from '../../src/images/framing.js';
import { IMG_COMMON, Magic } from '../../src/images/magic.js';
import { readPstree } from '../../src/images/pstree.js';
import { catchImageError, frame, image, imageDir } from '../helpers/build-image.js';

const tree = [
  { type: 'PstreeEntry', fields: { pid: 10, ppid: 1, pgid: 10, sid: 10, threads: [10, 11] } },
  { type: 'PstreeEntry', fields: { pid: 12, ppid: 10, pgid: 10, sid: 10, threads: [12] } },
];

describe('image framing', () => {
  it('reads every entry after the common and image magic', () => {
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': image(Magic.pstree, tree) }));
    expect(readPstree(dir)).toEqual([
      { pid: 10, ppid: 1, pgid: 10, sid: 10, threads: [10, 11] },
      { pid: 12, ppid: 10, pgid: 10, sid: 10, threads: [12] },
    ]);
  });

  it('accepts images that carry only their own magic (inventory, format v1)', () => {
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': image(Magic.pstree, tree, { common: false }) }));
    expect(readPstree(dir).map((p) => p.pid)).toEqual([10, 12]);
  });

  it('names the image and offset when the magic is wrong', () => {
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': image(Magic.core, tree) }));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('bad-magic');
    expect(error.message).toBe('pstree.img: has magic 0x55053847, expected 0x50273030 (at offset 4)');
  });

  it('refuses a length prefix larger than the rest of the file without allocating it', () => {
    const huge = Buffer.alloc(4);
    huge.writeUInt32LE(0xfffffff0);
    const bytes = Buffer.concat([image(Magic.pstree, tree.slice(0, 1)), huge, Buffer.from([1, 2, 3])]);
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': bytes }));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('truncated');
    expect(error.offset).toBe(8 + frame(tree[0]!).length);
    expect(error.message).toMatch(/^pstree\.img: entry of 4294967280 bytes runs past the end of the file \(3 bytes left\)/);
  });

  it('reports an entry cut short at the end of the file', () => {
    const whole = image(Magic.pstree, tree);
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': whole.subarray(0, whole.length - 3) }));
    expect(catchImageError(() => readPstree(dir)).code).toBe('truncated');
  });

  it('reports a length prefix cut short', () => {
    const whole = Buffer.concat([image(Magic.pstree, tree), Buffer.from([5, 0])]);
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': whole }));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('truncated');
    expect(error.message).toContain("ends inside an entry's length");
  });

  it('turns undecodable payloads into bad-entry errors', () => {
    const garbage = Buffer.from([4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(IMG_COMMON, 0);
    header.writeUInt32LE(Magic.pstree, 4);
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': Buffer.concat([header, garbage]) }));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('bad-entry');
    expect(error.message).toMatch(/^pstree\.img: PstreeEntry does not decode/);
  });

  it('reports a missing required field as a bad entry', () => {
    // Only field 1 (pid = 3): ppid, pgid and sid are required but absent.
    const onlyPid = Buffer.from([2, 0, 0, 0, 0x08, 0x03]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(IMG_COMMON, 0);
    header.writeUInt32LE(Magic.pstree, 4);
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': Buffer.concat([header, onlyPid]) }));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('bad-entry');
    expect(error.message).toContain('ppid');
  });

  it('reports a missing image by name', () => {
    const dir = ImageDirectory.openRoot(imageDir({}));
    const error = catchImageError(() => readPstree(dir));
    expect(error.code).toBe('missing');
    expect(error.message).toBe('pstree.img: image is missing');
  });

  it('does not follow a symlinked image', () => {
    const path = imageDir({});
    writeFileSync(join(path, 'real.img'), image(Magic.pstree, tree));
    symlinkSync(join(path, 'real.img'), join(path, 'pstree.img'));
    const error = catchImageError(() => readPstree(ImageDirectory.openRoot(path)));
    expect(error.code).toBe('unreadable');
    expect(error.message).toContain('symbolic link');
  });

  it('refuses a repeated process id', () => {
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': image(Magic.pstree, [tree[0]!, tree[0]!]) }));
    expect(catchImageError(() => readPstree(dir)).code).toBe('bad-value');
  });

  it('keeps the offset of each entry', () => {
    const dir = ImageDirectory.openRoot(imageDir({ 'pstree.img': image(Magic.pstree, tree) }));
    const reader = new EntryReader(dir.openRequired('pstree.img'), Magic.pstree);
    const offsets = reader.all('PstreeEntry').map((e) => e.offset);
    expect(offsets).toEqual([8, 8 + frame(tree[0]!).length]);
  });
});
