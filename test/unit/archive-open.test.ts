/**
 * Checkpoint archives on the committed demo fixture: the images put in the Podman layout (checkpoint/ plus
 * config.dump, spec.dump, stats-dump) and archived plain, gzip and zstd. Each opens to the same processes,
 * threads and memory as the directory; compressed ones leave no temporary files; hostile and damaged
 * archives are refused in one line. Also: the rootfs overlay, stats-dump and regular-expression search.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { searchCheckpoint } from '../../src/views/search.js';
import { liveTempDirs } from '../../src/archive/temp.js';
import { indexTar } from '../../src/archive/tar.js';
import { decodeStats } from '../../src/images/stats.js';
import { RootFile } from '../../src/model/backing-file.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { compileByteRegex, searchMemory } from '../../src/model/search.js';
import { DiffLayer } from '../../src/rootfs/overlay.js';
import { RootFs, RootPathError } from '../../src/rootfs/resolve.js';
import { findSymbol, fixtureImagesDir, fixtureRootfs, loadFixtureTruth, parseAddress, rootProcess } from '../helpers/checkpoints.js';
import { tarOf } from '../helpers/build-archive.js';

const truth = loadFixtureTruth('demo');
const live = rootProcess(truth);
const root = fixtureRootfs('demo');
const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-archive-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function ourTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('criu-gdb-archive-') && !join(tmpdir(), name).startsWith(scratch));
}

/** The demo fixture as a Podman checkpoint bundle, and its archives. */
function makeArchives(): Record<'tar' | 'gzip' | 'zstd', string> & { bundle: string } {
  const bundle = join(scratch, 'bundle');
  cpSync(fixtureImagesDir('demo'), join(bundle, 'checkpoint'), { recursive: true });
  writeFileSync(join(bundle, 'config.dump'), JSON.stringify({ id: 'f'.repeat(64), name: 'demo-ctr', rootfsImageName: 'localhost/demo:latest', runtime: 'runc', createdTime: '2026-01-02T03:04:05.678+01:00', checkpointedTime: '2026-01-02T04:00:00Z' }));
  writeFileSync(join(bundle, 'spec.dump'), JSON.stringify({ annotations: { 'io.container.manager': 'libpod' }, mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }] }));
  execFileSync('mv', [join(bundle, 'checkpoint', 'stats-dump'), join(bundle, 'stats-dump')]);
  const tar = join(scratch, 'demo.tar');
  execFileSync('tar', ['-C', bundle, '-cf', tar, 'config.dump', 'spec.dump', 'stats-dump', 'checkpoint']);
  execFileSync('gzip', ['-k', tar]);
  execFileSync('zstd', ['-q', '-k', tar]);
  return { bundle, tar, gzip: `${tar}.gz`, zstd: `${tar}.zst` };
}

const archives = makeArchives();

/** Everything the model reads from memory, for comparison. */
function snapshot(checkpoint: Checkpoint): unknown {
  return checkpoint.processes.map((process) => ({
    pid: process.pid,
    threads: process.threads().map((t) => [t.tid, t.name]),
    cmdline: process.cmdline(),
    maps: process.mappings().map((m) => {
      const read = m.unavailableReason ? undefined : process.memory().read(m.start, Number(m.end - m.start));
      return { start: m.start, name: m.name, size: read?.data.length, hash: read ? createHash('sha256').update(read.data).digest('hex') : m.unavailableReason, gaps: read?.unavailable };
    }),
  }));
}

describe('opening archives', () => {
  const direct = Checkpoint.open(fixtureImagesDir('demo'), { root });
  const expected = snapshot(direct);
  afterAll(() => direct.close());

  for (const format of ['tar', 'gzip', 'zstd'] as const) {
    it(`opens a ${format} archive to the same processes, threads and memory as the directory`, () => {
      const before = ourTempDirs();
      const checkpoint = Checkpoint.open(archives[format], { root });
      expect(checkpoint.source.format).toBe(format);
      expect(checkpoint.source.imagesDir).toBe('checkpoint');
      expect(checkpoint.processes.map((p) => p.pid)).toEqual([live.pid]);
      expect(snapshot(checkpoint)).toEqual(expected);
      const temp = checkpoint.source.archive?.temporaryDirectory;
      if (format === 'tar') expect(temp).toBeUndefined();
      else expect(existsSync(temp!)).toBe(true);
      checkpoint.close();
      if (temp) expect(existsSync(temp)).toBe(false);
      expect(ourTempDirs()).toEqual(before);
      expect(liveTempDirs()).toEqual([]);
    });
  }

  it('opens the unpacked bundle directory as a container checkpoint', () => {
    const checkpoint = Checkpoint.open(archives.bundle, { root });
    try {
      expect(checkpoint.source.isContainer).toBe(true);
      expect(snapshot(checkpoint)).toEqual(expected);
    } finally {
      checkpoint.close();
    }
  });

  it('reads a plain tar in place and extracts nothing', () => {
    const checkpoint = Checkpoint.open(archives.tar, { root });
    try {
      expect(checkpoint.source.archive?.passes).toEqual([]);
      expect(liveTempDirs()).toEqual([]);
    } finally {
      checkpoint.close();
    }
  });

  it('extracts pages on first memory access with pages: lazy, in one more pass', () => {
    const checkpoint = Checkpoint.open(archives.gzip, { root, archive: { pages: 'lazy' } });
    try {
      const archive = checkpoint.source.archive!;
      expect(archive.passes).toHaveLength(1);
      const pages = archive.member('checkpoint/pages-1.img')!;
      expect(archive.isLocal(pages.ordinal)).toBe(false);
      expect(snapshot(checkpoint)).toEqual(expected);
      expect(archive.passes).toHaveLength(2);
      expect(archive.isLocal(pages.ordinal)).toBe(true);
    } finally {
      checkpoint.close();
    }
  });

  it('decodes zstd with the WebAssembly decoder as with the zstd program', () => {
    for (const zstd of ['wasm', 'program'] as const) {
      const checkpoint = Checkpoint.open(archives.zstd, { root, archive: { zstd } });
      try {
        expect(checkpoint.source.archive!.passes[0]!.decoder).toBe(zstd === 'wasm' ? 'zstd wasm' : 'zstd program');
        expect(snapshot(checkpoint)).toEqual(expected);
      } finally {
        checkpoint.close();
      }
    }
  });

  it('shares one index and one temporary directory between opens of the same archive', () => {
    const first = Checkpoint.open(archives.zstd, { root });
    const second = Checkpoint.open(archives.zstd, { root });
    const temp = first.source.archive!.temporaryDirectory!;
    expect(second.source.archive).toBe(first.source.archive);
    first.close();
    expect(existsSync(temp)).toBe(true);
    expect(snapshot(second)).toEqual(expected);
    second.close();
    expect(existsSync(temp)).toBe(false);
  });

  it('removes the temporary directory when the process exits', () => {
    const script = `
      import { Checkpoint } from ${JSON.stringify(join(process.cwd(), 'dist/src/model/checkpoint.js'))};
      const c = Checkpoint.open(${JSON.stringify(archives.zstd)});
      console.log(c.source.archive.temporaryDirectory);
      process.exit(0);`;
    const temp = execFileSync('node', ['--input-type=module', '-e', script]).toString().trim();
    expect(temp).toMatch(/criu-gdb-archive-/);
    expect(existsSync(temp)).toBe(false);
    const signalled = `
      import { Checkpoint } from ${JSON.stringify(join(process.cwd(), 'dist/src/model/checkpoint.js'))};
      const c = Checkpoint.open(${JSON.stringify(archives.gzip)});
      console.log(c.source.archive.temporaryDirectory);
      process.kill(process.pid, 'SIGTERM');
      setTimeout(() => {}, 5000);`;
    let out = '';
    try {
      execFileSync('node', ['--input-type=module', '-e', signalled]);
    } catch (error) {
      out = String((error as { stdout: Buffer }).stdout);
      expect((error as { signal: string }).signal).toBe('SIGTERM');
    }
    expect(out.trim()).toMatch(/criu-gdb-archive-/);
    expect(existsSync(out.trim())).toBe(false);
  });
});

describe('refusing archives', () => {
  function archiveOf(name: string, members: Parameters<typeof tarOf>[0]): string {
    const path = join(scratch, name);
    writeFileSync(path, tarOf(members));
    return path;
  }
  const images = fixtureImagesDir('demo');
  const inventory = readFileSync(join(images, 'inventory.img'));
  const pstree = readFileSync(join(images, 'pstree.img'));

  it('refuses members with .. or an absolute path', () => {
    expect(() => Checkpoint.open(archiveOf('dotdot.tar', [{ name: 'checkpoint/inventory.img', data: inventory }, { name: 'checkpoint/../../evil', data: 'x' }]))).toThrow(
      /'\.\.' in its path; refused/,
    );
    expect(() => Checkpoint.open(archiveOf('abs.tar', [{ name: '/checkpoint/inventory.img', data: inventory }]))).toThrow(/absolute path; refused/);
    const gz = join(scratch, 'dotdot.tar.gz');
    execFileSync('sh', ['-c', `gzip -c ${join(scratch, 'dotdot.tar')} > ${gz}`]);
    expect(() => Checkpoint.open(gz)).toThrow(/'\.\.' in its path; refused/);
    expect(ourTempDirs()).toEqual([]);
  });

  it('refuses a symlink or a directory where an image is expected', () => {
    expect(() => Checkpoint.open(archiveOf('link.tar', [{ name: 'checkpoint/inventory.img', data: inventory }, { name: 'checkpoint/pstree.img', type: '2', link: '/etc/passwd' }]))).toThrow(
      'pstree.img: is a symbolic link, which is not followed',
    );
    expect(() => Checkpoint.open(archiveOf('dir.tar', [{ name: 'checkpoint/inventory.img', data: inventory }, { name: 'checkpoint/pstree.img', type: '5' }]))).toThrow('pstree.img: is not a regular file');
    expect(() => Checkpoint.open(archiveOf('parent.tar', [{ name: 'checkpoint/inventory.img', data: inventory }, { name: 'checkpoint/pstree.img', data: pstree }, { name: 'checkpoint/parent', type: '2', link: '../../x' }])).dir.parent()).toThrow(
      /points outside the archive/,
    );
  });

  it('reports damaged, truncated and foreign files in one line', () => {
    const truncated = join(scratch, 'cut.tar.gz');
    writeFileSync(truncated, readFileSync(archives.gzip).subarray(0, 2000));
    expect(() => Checkpoint.open(truncated)).toThrow(/cut\.tar\.gz: .*(unexpected end|ends inside)/);
    const garbage = join(scratch, 'bad.tar.zst');
    const zst = Buffer.from(readFileSync(archives.zstd));
    zst.fill(0x55, 20, 400);
    writeFileSync(garbage, zst);
    for (const zstd of ['wasm', 'program'] as const) expect(() => Checkpoint.open(garbage, { archive: { zstd } })).toThrow(/bad\.tar\.zst: /);
    const text = join(scratch, 'notes.txt');
    writeFileSync(text, 'hello');
    expect(() => Checkpoint.open(text)).toThrow('notes.txt: not a checkpoint directory or a checkpoint archive (tar, tar.gz or tar.zst): not a tar archive');
    expect(() => Checkpoint.open(archiveOf('empty.tar', [{ name: 'README', data: 'x' }]))).toThrow(/not a CRIU checkpoint archive/);
    expect(ourTempDirs()).toEqual([]);
  });
});

describe('stats-dump', () => {
  it('decodes the dump statistics and checks the magic', () => {
    const data = readFileSync(join(fixtureImagesDir('demo'), 'stats-dump'));
    const stats = decodeStats(data, 'stats-dump');
    expect(stats.dump?.pagesScanned).toBeGreaterThan(0n);
    expect(stats.dump?.pagesWritten).toBeGreaterThan(0n);
    expect(stats.dump?.frozenTime).toBeGreaterThan(0);
    const bad = Buffer.from(data);
    bad.writeUInt32LE(0x12345678, 4);
    expect(() => decodeStats(bad, 'stats-dump')).toThrow('stats-dump: has magic 0x12345678, expected 0x57093306 (at offset 4)');
    expect(() => decodeStats(data.subarray(0, 14), 'stats-dump')).toThrow(/runs past the end/);
  });
});

describe('the rootfs overlay', () => {
  const base = join(scratch, 'base');
  mkdirSync(join(base, 'usr/lib'), { recursive: true });
  mkdirSync(join(base, 'etc/old'), { recursive: true });
  writeFileSync(join(base, 'usr/lib/libx.so'), 'base libx');
  writeFileSync(join(base, 'usr/lib/liby.so'), 'base liby');
  writeFileSync(join(base, 'etc/hidden'), 'hidden');
  writeFileSync(join(base, 'etc/old/a'), 'old a');
  symlinkSync('/usr/lib/liby.so', join(base, 'usr/lib/link-to-y'));
  const diffTar = join(scratch, 'rootfs-diff.tar');
  writeFileSync(
    diffTar,
    tarOf([
      { name: 'usr/lib/libx.so', data: 'diff libx!' },
      { name: 'app/bin', type: '5' },
      { name: 'app/bin/tool', data: 'tool bytes' },
      { name: 'app/current', type: '2', link: '/usr/lib/liby.so' },
      { name: 'app/hard', type: '1', link: 'app/bin/tool' },
      { name: 'etc/old/b', data: 'new b' },
    ]),
  );
  const fd = openSync(diffTar, 'r');
  afterAll(() => closeSync(fd));
  const members = indexTar(fd, 0, readFileSync(diffTar).length, diffTar);
  const layer = new DiffLayer('x.tar:rootfs-diff.tar', members, (m) => ({ fd, base: m.dataOffset, size: m.size }), ['/etc/hidden', '/etc/old']);
  const fs = new RootFs(base, layer);
  const read = (path: string): string => {
    const content = fs.openContent(path);
    const buffer = Buffer.alloc(content.size);
    readSync(content.fd, buffer, 0, buffer.length, content.base);
    content.close();
    return buffer.toString();
  };

  it('serves diff members over the base, in place', () => {
    expect(read('/usr/lib/libx.so')).toBe('diff libx!');
    expect(read('/usr/lib/liby.so')).toBe('base liby');
    expect(read('/app/bin/tool')).toBe('tool bytes');
    expect(read('/app/hard')).toBe('tool bytes');
    expect(fs.resolveEntry('/usr/lib/libx.so').layer).toBe('diff');
    expect(fs.resolve('/usr/lib/liby.so')).toBe(join(base, 'usr/lib/liby.so'));
  });

  it('follows symlinks across the layers', () => {
    expect(read('/app/current')).toBe('base liby');
    expect(read('/usr/lib/link-to-y')).toBe('base liby');
  });

  it('hides deleted entries and what is under them, unless the diff adds it back', () => {
    expect(() => fs.resolve('/etc/hidden')).toThrow(RootPathError);
    expect(() => fs.resolve('/etc/hidden')).toThrow('/etc/hidden: was deleted in the container (x.tar:deleted.files)');
    expect(() => fs.resolve('/etc/old/a')).toThrow(/was deleted in the container/);
    expect(read('/etc/old/b')).toBe('new b');
    expect(() => fs.resolve('/../etc/passwd')).toThrow("contains '..'");
  });

  it('gives diff files a descriptor of their own for gdb (a private copy, removed on close)', () => {
    const opened = fs.open('/app/bin/tool');
    expect(readFileSync(opened.hostPath, 'utf8')).toBe('tool bytes');
    closeSync(opened.fd);
    fs.close();
    expect(existsSync(opened.hostPath)).toBe(false);
  });

  it('checks sizes and names the missing file and its build-id', () => {
    const ok = new RootFile(fs, { path: '/usr/lib/libx.so', size: 10n });
    expect(ok.problem()).toBeUndefined();
    expect(ok.layer).toBe('diff');
    const wrong = new RootFile(fs, { path: '/usr/lib/libx.so', size: 9n });
    expect(wrong.problem()).toBe('/usr/lib/libx.so (from x.tar:rootfs-diff.tar): size is 10, the checkpoint recorded 9');
    const missing = new RootFile(fs, { path: '/usr/lib/libz.so', buildId: Buffer.from('0123456789abcdef0123456789abcdef01234567000000', 'hex') });
    expect(missing.problem()).toBe(`/usr/lib/libz.so: does not exist under ${base} or in x.tar:rootfs-diff.tar (the checkpoint recorded build-id 0123456789abcdef0123456789abcdef01234567)`);
  });
});

describe('regular-expression search', () => {
  let opened: Checkpoint | undefined;
  const open = (): Checkpoint => (opened ??= Checkpoint.open(archives.zstd, { root }));
  afterAll(() => opened?.close());
  const storeName = findSymbol(live, 'g_store_name');

  it('finds the same match as the byte search, in an archive', () => {
    const checkpoint = open();
    const process = checkpoint.process(live.pid);
    const bytes = searchMemory(process, Buffer.from('criu-gdb corner shop'));
    const regex = searchMemory(process, compileByteRegex('criu-gdb c[o]rner\\x20sh(o|0)p'));
    expect(regex.map((m) => [m.address, m.length])).toEqual(bytes.map((m) => [m.address, m.length]));
    expect(regex.map((m) => m.address)).toContain(parseAddress(storeName.address));
  });

  it('reports variable-length matches with their length, and refuses bad expressions', () => {
    const checkpoint = open();
    const result = searchCheckpoint(checkpoint, { pattern: compileByteRegex('corner [a-z]+', 'i'), limit: 5 });
    const match = result.matches.find((m) => m.address === parseAddress(storeName.address) + 9n);
    expect(match?.length).toBe('corner shop'.length);
    expect(() => compileByteRegex('a(')).toThrow(/not a valid regular expression/);
    expect(parseArgs(['x', 'y', '--regex'], [{ name: 'regex', value: false, help: '' }]).options.has('regex')).toBe(true);
  });
});
