/**
 * An IDE's session on a checkpoint: real gdb's MI3 interpreter in asynchronous mode, driven over pipes with
 * the commands a front-end (VS Code's cpptools, CLion, Emacs) sends after attaching to a core file or a
 * remote target, on the multi-process fork_tree checkpoint, on every gdb of the matrix. Every command must be
 * answered with ^done or ^error, values must be those of the live process (its truth), and a request to run
 * must never end in an invented stop ("signal 0") nor leave the process marked running.
 * Needs `npm run build` first (npm test does it).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { REPO_ROOT, imagesDir, loadTruth, type ProcessTruth } from '../helpers/checkpoints.js';
import { field, list, MiSession, type MiRecord, type MiTuple, type MiValue } from '../helpers/gdb-mi.js';

const PLUGIN = join(REPO_ROOT, 'gdb-plugin', 'criu_gdb.py');
const truth = loadTruth('fork_tree');
const READ_ONLY = 'the checkpoint is read-only';

function tuple(value: MiValue | undefined): MiTuple {
  if (value === undefined || typeof value === 'string' || Array.isArray(value)) throw new Error(`not a tuple: ${JSON.stringify(value)}`);
  return value;
}

/** Hex of the live bytes of a NUL-padded char array. */
function paddedHex(text: string, size: number): string {
  const bytes = Buffer.alloc(size);
  bytes.write(text, 'latin1');
  return bytes.toString('hex');
}

function noInventedStop(records: MiRecord[]): void {
  for (const record of records) {
    expect(record.line).not.toMatch(/reason="signal-received"|signal-name="0"|Remote failure reply/);
  }
}

for (const version of gdbMatrix()) {
  warnIfUnavailable(version);
  describe.skipIf(!version.available)(`an IDE's MI session on ${version.label}`, () => {
    let mi: MiSession;
    /** Inferior id (`i1`...) by pid. */
    const groups = new Map<number, string>();
    /** Global thread id by pid (one thread per process in fork_tree). */
    const threads = new Map<number, string>();

    beforeAll(async () => {
      mi = new MiSession(version.command);
      expect((await mi.command('-gdb-set mi-async on')).result.name).toBe('done');
      expect((await mi.command(`-interpreter-exec console "source ${PLUGIN}"`)).result.name).toBe('done');
      const load = await mi.command(`-interpreter-exec console "criu-load ${imagesDir('fork_tree')}"`, 120_000);
      expect(load.result.name, load.result.line).toBe('done');
    }, 180_000);

    afterAll(async () => {
      await mi?.close();
    });

    it('lists one thread group per process, and their threads', async () => {
      const answer = await mi.command('-list-thread-groups');
      expect(answer.result.name).toBe('done');
      for (const group of list(answer.result.results, 'groups')) {
        groups.set(Number(field(group, 'pid')), field(group, 'id'));
        expect(field(group, 'type')).toBe('process');
      }
      expect([...groups.keys()].sort()).toEqual(truth.processes.map((p) => p.pid).sort());
      const info = await mi.command('-thread-info');
      expect(info.result.name).toBe('done');
      for (const thread of list(info.result.results, 'threads')) {
        const target = field(thread, 'target-id');
        const pid = Number(/Thread (\d+)\.\d+/.exec(target)?.[1]);
        expect(field(thread, 'state')).toBe('stopped');
        threads.set(pid, field(thread, 'id'));
        const process = truth.processes.find((p) => p.pid === pid)!;
        expect(field(thread, 'name')).toBe(process.threads[0]!.name);
      }
      expect(threads.size).toBe(truth.processes.length);
    }, 60_000);

    for (const process of truth.processes) {
      describe(`process ${process.facts['role']}`, () => {
        const thread = (): string => threads.get(process.pid)!;

        it('has the live frames and locals', async () => {
          const frames = await mi.command(`-stack-list-frames --thread ${thread()}`);
          expect(frames.result.name).toBe('done');
          const functions = list(frames.result.results, 'stack').map((frame) => field(frame, 'func'));
          expect(functions).toContain('wait_here');
          expect(functions).toContain('main');
          const level = functions.indexOf('wait_here');
          const locals = await mi.command(`-stack-list-variables --thread ${thread()} --frame ${level} --all-values`);
          expect(locals.result.name).toBe('done');
          const wait = list(locals.result.results, 'variables').find((v) => field(v, 'name') === 'wait_local');
          expect(field(wait, 'value')).toBe(process.facts['local.wait_here.wait_local']);
        }, 60_000);

        it('has the live globals through var-objects and expressions', async () => {
          const role = await mi.command(`-var-create --thread ${thread()} --frame 0 - * g_role`);
          expect(role.result.name).toBe('done');
          expect(field(role.result.results, 'value')).toBe(process.facts['global.g_role']);
          const name = await mi.command(`-var-create --thread ${thread()} --frame 0 - * g_role_name`);
          expect(field(name.result.results, 'numchild')).toBe('16');
          const varName = field(name.result.results, 'name');
          const children = await mi.command(`-var-list-children --all-values ${varName}`);
          expect(children.result.name).toBe('done');
          const first = tuple(list(children.result.results, 'children')[0]);
          const letter = process.facts['global.g_role_name']!;
          expect(field(first, 'value')).toBe(`${letter.charCodeAt(0)} '${letter[0]}'`);
          const text = await mi.command(`-var-evaluate-expression ${varName}`);
          expect(field(text.result.results, 'value')).toBe('[16]');
          const string = await mi.command(`-data-evaluate-expression --thread ${thread()} --frame 0 g_role_name`);
          // The live text, then the NUL padding gdb prints as \000s or as a repeat.
          expect(field(string.result.results, 'value')).toMatch(new RegExp(`^"${letter}(?:"|\\\\000)`));
          const value = await mi.command(`-data-evaluate-expression --thread ${thread()} --frame 0 g_role`);
          expect(field(value.result.results, 'value')).toBe(process.facts['global.g_role']);
          for (const v of [field(role.result.results, 'name'), varName]) expect((await mi.command(`-var-delete ${v}`)).result.name).toBe('done');
        }, 60_000);

        it('has the live registers, disassembly and memory', async () => {
          const names = list((await mi.command('-data-list-register-names')).result.results, 'register-names') as string[];
          const rip = names.indexOf('rip');
          const rsp = names.indexOf('rsp');
          const values = await mi.command(`-data-list-register-values --thread ${thread()} --frame 0 x ${rip} ${rsp}`);
          expect(values.result.name).toBe('done');
          const byNumber = new Map(list(values.result.results, 'register-values').map((r) => [Number(field(r, 'number')), field(r, 'value')]));
          const live = process.threads[0]!.registers;
          expect(BigInt(byNumber.get(rip)!)).toBe(BigInt(live['rip']!));
          expect(BigInt(byNumber.get(rsp)!)).toBe(BigInt(live['rsp']!));
          const disassembly = await mi.command(`-data-disassemble --thread ${thread()} -s ${live['rip']} -e ${BigInt(live['rip']!) + 16n} -- 0`);
          expect(disassembly.result.name).toBe('done');
          expect(list(disassembly.result.results, 'asm_insns').length).toBeGreaterThan(0);
          const address = process.facts['global.g_role_name.addr']!;
          const memory = await mi.command(`-data-read-memory-bytes --thread ${thread()} ${address} 16`);
          expect(memory.result.name).toBe('done');
          const block = tuple(list(memory.result.results, 'memory')[0]);
          expect(field(block, 'contents')).toBe(paddedHex(process.facts['global.g_role_name']!, 16));
        }, 60_000);
      });
    }

    describe('refuses to run or change the checkpoint', () => {
      const root = (): ProcessTruth => truth.processes.find((p) => p.pid === truth.rootPid)!;
      const stepping = ['-exec-next', '-exec-step', '-exec-finish', '-exec-until', '-exec-step-instruction', '-exec-next-instruction', '-exec-run', '-exec-jump 1'];

      it.each(stepping)('%s: ^error, and nothing runs', async (command) => {
        const answer = await mi.command(`${command} --thread ${threads.get(root().pid)}`);
        expect(answer.result.name, answer.result.line).toBe('error');
        expect(field(answer.result.results, 'msg')).toContain(READ_ONLY);
        expect(answer.others.filter((r) => r.kind === '*')).toEqual([]);
      }, 60_000);

      it('-exec-continue --all on several processes: ^error, and nothing runs', async () => {
        const answer = await mi.command('-exec-continue --all');
        expect(answer.result.name, answer.result.line).toBe('error');
        expect(answer.others.filter((r) => r.kind === '*')).toEqual([]);
      }, 60_000);

      it('-exec-continue: gdb announces the run itself, then the stub stops at once with "no history", never an invented signal', async () => {
        const answer = await mi.command(`-exec-continue --thread ${threads.get(root().pid)}`);
        // gdb tells the front-end that the process runs before the target sees the request: no stub can
        // refuse it with ^error (see the README, "MI front-ends").
        expect(answer.result.name, answer.result.line).toBe('running');
        const stop = await mi.waitFor((record) => record.kind === '*' && record.name === 'stopped', '*stopped');
        noInventedStop([...answer.others, ...stop.others, stop.result]);
        if (version.major >= 16) expect(field(stop.result.results, 'reason')).toBe('no-history');
        const info = await mi.command('-thread-info');
        for (const thread of list(info.result.results, 'threads')) expect(field(thread, 'state')).toBe('stopped');
        const value = await mi.command(`-data-evaluate-expression --thread ${threads.get(root().pid)} --frame 0 g_role`);
        expect(field(value.result.results, 'value')).toBe(root().facts['global.g_role']);
      }, 60_000);

      it('memory and register writes: ^error, and the values stay', async () => {
        const address = root().facts['global.g_role.addr']!;
        const write = await mi.command(`-data-write-memory-bytes --thread ${threads.get(root().pid)} ${address} "07000000"`);
        expect(write.result.name).toBe('error');
        const assign = await mi.command(`-data-evaluate-expression --thread ${threads.get(root().pid)} --frame 0 "g_role=7"`);
        expect(assign.result.name).toBe('error');
        const pop = await mi.command(`-exec-return --thread ${threads.get(root().pid)}`);
        expect(pop.result.name).toBe('error');
        expect(field(pop.result.results, 'msg')).toContain(READ_ONLY);
        const value = await mi.command(`-data-evaluate-expression --thread ${threads.get(root().pid)} --frame 0 g_role`);
        expect(field(value.result.results, 'value')).toBe(root().facts['global.g_role']);
        noInventedStop(mi.transcript);
      }, 60_000);
    });
  });
}
