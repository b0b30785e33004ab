/**
 * The tar reader on archives built here byte by byte: ustar, GNU long names, pax headers, base-256 sizes,
 * refusal of absolute and `..` names, damaged headers; the positioned index and the stream parser agree
 * whatever the chunk sizes; archives written by GNU tar in its three formats.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveError, indexTar, looksLikeTar, normalizeMemberName, TarStreamParser, type TarMember } from '../../src/archive/tar.js';
import { header, padTo512, pax, tarOf } from '../helpers/build-archive.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-tar-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeTemp(name: string, data: Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, data);
  return path;
}

function indexBuffer(data: Buffer, name = 'a.tar'): TarMember[] {
  const fd = openSync(writeTemp(name, data), 'r');
  try {
    return indexTar(fd, 0, data.length, name);
  } finally {
    closeSync(fd);
  }
}

function streamParse(data: Buffer, chunk: number): { members: TarMember[]; contents: Map<string, Buffer> } {
  const members: TarMember[] = [];
  const contents = new Map<string, Buffer>();
  let current: Buffer[] = [];
  const parser = new TarStreamParser('stream', {
    member: (m) => {
      members.push(m);
      current = [];
      return m.type === 'file';
    },
    data: (c) => current.push(Buffer.from(c)),
    end: () => contents.set(members[members.length - 1]!.name, Buffer.concat(current)),
  });
  for (let at = 0; at < data.length && !parser.done; at += chunk) parser.push(data.subarray(at, at + chunk));
  parser.finish();
  return { members, contents };
}

describe('tar headers', () => {
  const longName = `checkpoint/${'d'.repeat(120)}/pages-1.img`;
  const archive = Buffer.concat([
    header({ name: './', type: '5' }, 0),
    header({ name: './checkpoint/', type: '5' }, 0),
    header({ name: './checkpoint/inventory.img' }, 5),
    padTo512(Buffer.from('hello')),
    // GNU long name
    header({ name: '././@LongLink', type: 'L' }, longName.length + 1),
    padTo512(Buffer.from(`${longName}\0`)),
    header({ name: 'truncated-name' }, 3),
    padTo512(Buffer.from('abc')),
    // pax path and size
    header({ name: 'PaxHeaders/x', type: 'x' }, pax({ path: 'spec.dump', size: '7' }).length),
    padTo512(pax({ path: 'spec.dump', size: '7' })),
    header({ name: 'ignored' }, 7),
    padTo512(Buffer.from('{"a":1}')),
    // ustar prefix, base-256 size, symlink, hard link
    header({ name: 'name.bin', prefix: 'deep/dir', base256: true }, 4),
    padTo512(Buffer.from('wxyz')),
    header({ name: 'checkpoint/parent', type: '2', link: '../pre' }, 0),
    header({ name: 'hard', type: '1', link: './checkpoint/inventory.img' }, 0),
    Buffer.alloc(1024),
  ]);

  it('indexes names, types, sizes and data offsets', () => {
    const members = indexBuffer(archive);
    expect(members.map((m) => [m.name, m.type, m.size])).toEqual([
      ['', 'dir', 0],
      ['checkpoint', 'dir', 0],
      ['checkpoint/inventory.img', 'file', 5],
      [longName, 'file', 3],
      ['spec.dump', 'file', 7],
      ['deep/dir/name.bin', 'file', 4],
      ['checkpoint/parent', 'symlink', 0],
      ['hard', 'hardlink', 0],
    ]);
    const inventory = members[2]!;
    expect(archive.subarray(inventory.dataOffset, inventory.dataOffset + 5).toString()).toBe('hello');
    expect(members[6]!.linkName).toBe('../pre');
    expect(members[7]!.linkName).toBe('checkpoint/inventory.img');
    expect(looksLikeTar(archive.subarray(0, 512))).toBe(true);
  });

  it('streams the same members and data, whatever the chunk size', () => {
    const expected = indexBuffer(archive);
    for (const chunk of [1, 7, 511, 512, 513, 4096, archive.length]) {
      const { members, contents } = streamParse(archive, chunk);
      expect(members).toEqual(expected);
      expect(contents.get('spec.dump')?.toString()).toBe('{"a":1}');
      expect(contents.get('deep/dir/name.bin')?.toString()).toBe('wxyz');
    }
  });

  it('refuses absolute names and names with ..', () => {
    expect(() => indexBuffer(tarOf([{ name: '../etc/passwd', data: 'x' }]))).toThrow(/'\.\.' in its path; refused/);
    expect(() => indexBuffer(tarOf([{ name: '/etc/passwd', data: 'x' }]))).toThrow(/absolute path; refused/);
    expect(() => indexBuffer(tarOf([{ name: 'ok', type: '1', link: 'a/../../b' }]))).toThrow(ArchiveError);
    expect(() => streamParse(tarOf([{ name: 'checkpoint/../../x', data: 'x' }]), 100)).toThrow(/refused/);
    expect(normalizeMemberName('./a//b/./c/', 'x')).toBe('a/b/c');
  });

  it('reports damaged and truncated archives in one line', () => {
    const bad = Buffer.from(tarOf([{ name: 'a', data: 'abc' }]));
    bad[10] = 0x41; // breaks the checksum
    expect(() => indexBuffer(bad)).toThrow(/checksum does not match/);
    const full = tarOf([{ name: 'a', data: Buffer.alloc(2000) }]);
    expect(() => indexBuffer(full.subarray(0, 1024))).toThrow(/runs past the end of the archive/);
    expect(() => streamParse(full.subarray(0, 1024), 100)).toThrow(/ends inside a member/);
    expect(looksLikeTar(Buffer.alloc(512))).toBe(false);
    expect(looksLikeTar(Buffer.from('not a tar'.padEnd(512, 'x')))).toBe(false);
  });

  it('reads what GNU tar writes, in gnu, posix and ustar formats', () => {
    const source = join(scratch, 'src');
    mkdirSync(join(source, 'checkpoint', 'x'.repeat(110)), { recursive: true });
    writeFileSync(join(source, 'checkpoint', 'x'.repeat(110), 'f'.repeat(90)), 'long');
    writeFileSync(join(source, 'checkpoint', 'pages-1.img'), Buffer.alloc(10000, 7));
    symlinkSync('../pre', join(source, 'checkpoint', 'parent'));
    for (const format of ['gnu', 'posix']) {
      const file = join(scratch, `${format}.tar`);
      execFileSync('tar', ['-C', source, `--format=${format}`, '-cf', file, 'checkpoint']);
      const data = readFileSync(file);
      const members = indexBuffer(data, `${format}.tar`);
      const long = members.find((m) => m.name.endsWith('f'.repeat(90)))!;
      expect(long.name).toBe(`checkpoint/${'x'.repeat(110)}/${'f'.repeat(90)}`);
      expect(data.subarray(long.dataOffset, long.dataOffset + 4).toString()).toBe('long');
      expect(members.find((m) => m.name === 'checkpoint/parent')).toMatchObject({ type: 'symlink', linkName: '../pre' });
      expect(streamParse(data, 1000).members).toEqual(members);
    }
  });
});
