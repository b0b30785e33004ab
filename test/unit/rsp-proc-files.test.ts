/**
 * The synthetic /proc files gdb's `gcore` reads through the remote file I/O on a criu-load session:
 * smaps (mappings with Rss/Anonymous/VmFlags, which decide what gcore dumps), the full stat line, status
 * with credentials, and per-thread task/TID/stat and status. Checked on the committed pie-threads fixture.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { procFileContent } from '../../src/rsp/proc-files.js';
import { fixtureImagesDir, loadFixtureTruth } from '../helpers/checkpoints.js';

const truth = loadFixtureTruth('pie-threads');
const live = truth.processes[0]!;
const checkpoint = Checkpoint.open(fixtureImagesDir('pie-threads'));
const process = checkpoint.process(live.pid);
afterAll(() => checkpoint.close());

function text(rest: string): string {
  const content = procFileContent(process, rest);
  if (!content) throw new Error(`no /proc/${live.pid}/${rest}`);
  return content.toString();
}

/** smaps entries: the maps line and the `Key: value` lines after it. */
function smapsEntries(): Array<{ header: string; fields: Map<string, string> }> {
  const entries: Array<{ header: string; fields: Map<string, string> }> = [];
  for (const line of text('smaps').trimEnd().split('\n')) {
    const field = /^([A-Z][A-Za-z_]*):\s*(.*)$/.exec(line);
    if (field && entries.length > 0) entries.at(-1)!.fields.set(field[1]!, field[2]!.trim());
    else entries.push({ header: line, fields: new Map() });
  }
  return entries;
}

describe('/proc/PID/smaps', () => {
  it('has one entry per maps line, in the same order, with the mapping size', () => {
    const maps = text('maps').trimEnd().split('\n');
    const entries = smapsEntries();
    expect(entries.map((e) => e.header)).toEqual(maps);
    process.mappings().forEach((mapping, i) => {
      expect(entries[i]!.fields.get('Size')).toBe(`${Number((mapping.end - mapping.start) / 1024n)} kB`);
      expect(entries[i]!.fields.get('KernelPageSize')).toBe('4 kB');
    });
  });

  it('counts the pages the images hold as Rss, the private ones as Anonymous, as gcore needs them', () => {
    const entries = smapsEntries();
    process.mappings().forEach((mapping, i) => {
      const pages = process.coverage(mapping);
      const held = (pages.present + pages.inParent + pages.lazy) * 4;
      const fields = entries[i]!.fields;
      expect(fields.get('Rss'), mapping.name).toBe(`${held} kB`);
      const special = ['vdso', 'vvar', 'vsyscall'].includes(mapping.kind);
      expect(fields.get('Anonymous'), mapping.name).toBe(`${special ? 0 : held} kB`);
    });
    const stack = entries.find((e) => e.header.endsWith('[stack]'))!;
    expect(Number.parseInt(stack.fields.get('Anonymous')!, 10)).toBeGreaterThan(0);
  });

  it('states the VmFlags the images record: permissions, shared, grows-down, and the kernel flags of [vvar]', () => {
    const entries = smapsEntries();
    process.mappings().forEach((mapping, i) => {
      const flags = entries[i]!.fields.get('VmFlags')!.split(' ');
      expect(flags.includes('rd'), mapping.name).toBe(mapping.perms[0] === 'r');
      expect(flags.includes('wr'), mapping.name).toBe(mapping.perms[1] === 'w');
      expect(flags.includes('ex'), mapping.name).toBe(mapping.perms[2] === 'x');
      expect(flags.includes('sh'), mapping.name).toBe(mapping.perms[3] === 's');
    });
    const vvar = entries.find((e) => e.header.endsWith('[vvar]'));
    if (vvar) expect(vvar.fields.get('VmFlags')!.split(' ')).toEqual(expect.arrayContaining(['io', 'dd']));
  });
});

describe('/proc/PID/stat and status', () => {
  it('has the 52 fields of stat, with ids, state, thread count and the mm bounds', () => {
    const line = text('stat').trim();
    const comm = line.slice(line.indexOf('(') + 1, line.lastIndexOf(')'));
    const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
    expect(comm).toBe(live.comm);
    expect(fields.length).toBe(50); // after pid and comm
    expect(fields.slice(0, 4)).toEqual(['T', String(process.ppid), String(live.pgid), String(live.sid)]);
    expect(fields[17]).toBe(String(live.threads.length)); // num_threads (field 20)
    const mm = process.mm();
    expect(fields[23]).toBe(String(mm.startCode)); // startcode (field 26)
    expect(fields[45]).toBe(String(mm.argStart)); // arg_start (field 48)
  });

  it('gives each thread its own stat and status, and the credentials gcore reads', () => {
    for (const thread of live.threads) {
      const stat = text(`task/${thread.tid}/stat`);
      expect(stat.startsWith(`${thread.tid} (${thread.name}) T `)).toBe(true);
      const status = text(`task/${thread.tid}/status`);
      expect(status).toContain(`Name:\t${thread.name}\n`);
      expect(status).toContain(`Pid:\t${thread.tid}\n`);
      expect(status).toContain(`Tgid:\t${live.pid}\n`);
      expect(status).toContain(`Uid:\t${live.uid.join('\t')}\n`);
      expect(status).toContain(`Gid:\t${live.gid.join('\t')}\n`);
    }
    expect(text('status')).toContain(`Threads:\t${live.threads.length}\n`);
  });

  it('does not serve coredump_filter, which the images do not record (gdb then uses the kernel default)', () => {
    expect(procFileContent(process, 'coredump_filter')).toBeUndefined();
  });
});
