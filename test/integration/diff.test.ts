/**
 * `criu-gdb diff` on two real CRIU dumps of test/programs/diff_subject.c, taken before and after it changed
 * known pages, mappings, descriptors and threads. The truth is what the program printed about its changes
 * (facts) and what /proc showed before the second dump; the page bytes come from the truth's memory copy.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { diffCheckpoints, type CheckpointDiff, type ProcessChange } from '../../src/model/diff.js';
import { REPO_ROOT, checkpointAvailability, checkpointDir, fact, imagesDir, loadTruth, parseAddress, rootProcess, truthMemory } from '../helpers/checkpoints.js';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';
import { ARCHIVES_DIR } from '../setup/make-archives.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const PAGE = 4096n;
const availability = checkpointAvailability('diff_subject');
const scratch: string[] = [];
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function beforeDir(): string {
  const before = loadTruth('diff_subject').before;
  if (!before) throw new Error('diff_subject has no first dump: remake it with make-checkpoints.ts');
  return join(checkpointDir('diff_subject'), before.imagesDir);
}

function diffOf(a: string, b: string): CheckpointDiff {
  const first = Checkpoint.open(a);
  const second = Checkpoint.open(b);
  try {
    return diffCheckpoints(first, second);
  } finally {
    first.close();
    second.close();
  }
}

function onlyProcess(diff: CheckpointDiff): ProcessChange {
  expect(diff.processes.added).toEqual([]);
  expect(diff.processes.removed).toEqual([]);
  expect(diff.processes.changed).toHaveLength(1);
  return diff.processes.changed[0]!;
}

describe.skipIf(!availability.available)('diff of two dumps of diff_subject', () => {
  const truth = availability.available ? loadTruth('diff_subject') : undefined;
  const live = truth ? rootProcess(truth) : undefined;
  const address = (key: string): bigint => parseAddress(fact(live!, key));
  const number = (key: string): bigint => BigInt(fact(live!, key));

  it('reports exactly the pages the program changed in its region, and their bytes', () => {
    const change = onlyProcess(diffOf(beforeDir(), imagesDir('diff_subject')));
    const region = address('region.addr');
    const mapping = change.mappings.find((m) => m.start === region);
    expect(mapping, 'the region mapping').toBeDefined();
    const expected = fact(live!, 'changed.pages').split(' ').map(parseAddress);
    const reported = mapping!.changed.flatMap((range) => {
      const pages: bigint[] = [];
      for (let page = range.start; page < range.end; page += PAGE) pages.push(page);
      return pages;
    });
    expect(reported).toEqual(expected);
    expect(mapping!.changedPages).toBe(expected.length);
    expect(mapping!.unavailablePages).toBe(0);
    expect(mapping!.status).toBe('changed');
    expect(mapping!.endA).toBe(region + number('region.size'));
    // The bytes the diff calls changed hold the program's mark in the second dump, as the live process had them.
    const after = truthMemory('diff_subject', live!.pid, region);
    for (const page of expected) expect(String.fromCharCode(after[Number(page - region) + 100]!)).toBe('X');
  });

  it('reports the mapping that went, the one that shrank and the one that came', () => {
    const change = onlyProcess(diffOf(beforeDir(), imagesDir('diff_subject')));
    const byStart = new Map(change.mappings.map((m) => [m.start, m]));
    const gone = byStart.get(address('gone.addr'));
    expect(gone).toMatchObject({ status: 'removed', endA: address('gone.addr') + number('gone.size'), endB: undefined });
    const shrink = byStart.get(address('shrink.addr'));
    expect(shrink).toMatchObject({ status: 'resized', endA: address('shrink.addr') + number('shrink.size.before'), endB: address('shrink.addr') + number('shrink.size.after'), changedPages: 0 });
    const added = byStart.get(address('added.addr'));
    expect(added).toMatchObject({ status: 'added', endA: undefined, endB: address('added.addr') + number('added.size') });
    // The live maps after the change agree.
    expect(live!.maps.some((m) => parseAddress(m.start) === address('added.addr'))).toBe(true);
    expect(live!.maps.some((m) => parseAddress(m.start) === address('gone.addr'))).toBe(false);
  });

  it('reports exactly the descriptors and threads that changed', () => {
    const change = onlyProcess(diffOf(beforeDir(), imagesDir('diff_subject')));
    const scratchDir = join(checkpointDir('diff_subject'), 'scratch');
    expect(change.fds.added.map((fd) => [fd.fd, fd.name])).toEqual([[12, join(scratchDir, 'opened-after.txt')]]);
    expect(change.fds.removed.map((fd) => [fd.fd, fd.name])).toEqual([[11, join(scratchDir, 'closed-later.txt')]]);
    const liveFd = (n: number) => live!.fds.find((fd) => fd.fd === n)!;
    expect(liveFd(12).target).toBe(join(scratchDir, 'opened-after.txt'));
    const kept = change.fds.changed.find((c) => c.fd === 10);
    expect(kept?.a.details['pos']).toBe(0);
    expect(kept?.b.details['pos']).toBe(liveFd(10).pos);
    // Besides fd 10, only stdout (where the program printed its facts) moved.
    expect(change.fds.changed.map((c) => c.fd).sort()).toEqual([1, 10]);
    expect(change.sockets.added.map((fd) => [fd.fd, fd.details['local']])).toEqual([[14, `127.0.0.1:${fact(live!, 'fd.14.port')}`]]);
    expect(change.sockets.removed).toEqual([]);
    expect(change.sockets.changed).toEqual([]);
    expect(change.threads.added).toEqual([{ tid: Number(fact(live!, 'thread.late.tid')), name: 'late' }]);
    expect(change.threads.removed).toEqual([{ tid: Number(fact(live!, 'thread.doomed.tid')), name: 'doomed' }]);
    expect(change.threads.renamed).toEqual([{ tid: Number(fact(live!, 'thread.worker.tid')), a: 'worker-a', b: 'worker-b' }]);
    expect(live!.threads.find((t) => t.tid === Number(fact(live!, 'thread.worker.tid')))?.name).toBe('worker-b');
  });

  it('reads no page that both sides take from the same file bytes, and every page of a copy', () => {
    const images = imagesDir('diff_subject');
    const self = diffOf(images, images);
    expect(self.processes.changed).toEqual([]);
    expect(self.memory.changedPages).toBe(0);
    const copy = mkdtempSync(join(process.env['TMPDIR'] ?? '/tmp', 'criu-gdb-diff-'));
    scratch.push(copy);
    cpSync(images, copy, { recursive: true });
    const copied = diffOf(images, copy);
    expect(copied.processes.changed).toEqual([]);
    // The copy's pages file is other bytes on disk: each of its pages is read once; the same file never is.
    const pagesFile = statSync(join(images, 'pages-1.img')).size / 4096;
    expect(copied.memory.readPages - self.memory.readPages).toBe(pagesFile);
  });

  it('prints a text view of at most 80 columns and JSON, from the CLI', { timeout: 60_000 }, async () => {
    const text = await execa('node', [CLI, 'diff', beforeDir(), imagesDir('diff_subject')], { reject: false });
    expect(text.exitCode, text.stderr).toBe(0);
    for (const line of text.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    const region = address('region.addr');
    expect(text.stdout).toContain(`    * ${region.toString(16)}-${(region + number('region.size')).toString(16)} rw-p`);
    expect(text.stdout).toMatch(/^ {4}- 11 reg rw .*closed-later\.txt$/m);
    expect(text.stdout).toMatch(/^ {4}~ \d+ worker-a -> worker-b$/m);
    const json = await execa('node', [CLI, 'diff', beforeDir(), imagesDir('diff_subject'), '--json'], { reject: false });
    expect(json.exitCode, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { processes: { changed: Array<{ mappings: Array<{ start: string; changed: Array<{ start: string; end: string }> }> }> } };
    const mapping = parsed.processes.changed[0]!.mappings.find((m) => parseAddress(m.start) === region);
    expect(mapping?.changed.map((r) => r.start)).toContain(`0x${fact(live!, 'changed.pages').split(' ')[0]!.replace(/^0x/, '')}`);
  });

  it('runs as `criu diff OTHER` in gdb against the loaded checkpoint, as the CLI prints it', async () => {
    // Named relative to gdb's directory after a `cd`, which the helper does not follow.
    const run = await gdbOnCheckpoint(imagesDir('diff_subject'), [`cd ${checkpointDir('diff_subject')}`, `criu diff ${relative(checkpointDir('diff_subject'), beforeDir())}`]);
    expect(run.stderr).not.toMatch(/Traceback|Python Exception|internal error/);
    const cli = await execa('node', [CLI, 'diff', imagesDir('diff_subject'), beforeDir()], { reject: false });
    expect(cli.exitCode, cli.stderr).toBe(0);
    const inGdb = run.text.split('\n').filter((line) => !line.startsWith('warning: ') && !line.startsWith('Working directory ')).join('\n').trim();
    expect(inGdb).toBe(cli.stdout.trimEnd());
    expect(inGdb).toMatch(/^ {4}\+ 11 reg rw .*closed-later\.txt$/m);
  }, 120_000);
});

describe.skipIf(!existsSync(join(ARCHIVES_DIR, 'fork_tree', 'fork_tree.tar')))('diff of container checkpoints', () => {
  it('reports the mounts that changed in spec.dump, archive against directory', () => {
    const edited = mkdtempSync(join(process.env['TMPDIR'] ?? '/tmp', 'criu-gdb-diff-mounts-'));
    scratch.push(edited);
    cpSync(join(ARCHIVES_DIR, 'fork_tree', 'bundle'), edited, { recursive: true });
    const specPath = join(edited, 'spec.dump');
    const spec = JSON.parse(readFileSync(specPath, 'utf8')) as { mounts: Array<{ destination: string; type: string; source: string; options?: string[] }> };
    const removed = spec.mounts.pop()!;
    const changed = spec.mounts[0]!;
    const before = { ...changed, options: changed.options ?? [] };
    changed.source = '/elsewhere';
    const added = { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] };
    spec.mounts.push(added);
    writeFileSync(specPath, JSON.stringify(spec));
    const diff = diffOf(join(ARCHIVES_DIR, 'fork_tree', 'fork_tree.tar'), edited);
    expect(diff.mounts).toEqual({
      added: [added],
      removed: [{ ...removed, options: removed.options ?? [] }],
      changed: [{ destination: changed.destination, a: before, b: { ...before, source: '/elsewhere' } }],
    });
    // The same images: nothing else differs.
    expect(diff.processes.changed).toEqual([]);
    expect(diff.memory.changedPages).toBe(0);
  }, 60_000);
});
