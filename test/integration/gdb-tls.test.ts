/**
 * Thread-local storage through criu-load, on every installed gdb: `errno` and each `__thread` variable of
 * the executable and of a dlopen()ed library, in every thread of test/programs/tls_values.c, show what the
 * same gdb showed on the live process and what the program itself printed (values and addresses). Threads
 * that never touched the library get an error, as live gdb gives, never a value. gdb before 17 asks the
 * stub (qGetTLSAddr); gdb 17 and later locate glibc's TLS themselves. gdb on the core that
 * `criu-gdb coredump` exports shows the same values. A musl program (no libthread_db descriptors) and a
 * static one get an error from the stub; gdb 18 locates musl's TLS itself, as it does live.
 * Needs `npm run build` first (npm test does it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coredumpCommand } from '../../src/cli/commands/coredump.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { serveProcess, type ProcessServer } from '../../src/rsp/server.js';
import { parseArgs } from '../../src/views/args.js';
import { WORK_DIR, checkpointAvailability, fact, imagesDir, loadTruth, parseAddress, type ProcessTruth } from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable, type GdbUnderTest } from '../helpers/gdb-versions.js';
import { gdbOnCheckpoint, liveView, threadBlocks } from '../helpers/gdb-session.js';
import { RspClient } from '../helpers/rsp-client.js';

const NAME = 'tls_values';
const availability = checkpointAvailability(NAME);

/** The program's threads, by the name its facts use. */
const THREADS = ['main', 'early-lib', 'early-plain', 'late-lib', 'late-plain'] as const;
/** The variables the live probes printed (`thread apply all -c p VAR`). */
const EXECUTABLE_VARIABLES = ['errno', 'tls_counter', 'tls_array', 'tls_record', 'tls_name'] as const;
const LIBRARY_VARIABLES = ['lib_tls_value', 'lib_tls_label'] as const;
const VARIABLES = [...EXECUTABLE_VARIABLES, ...LIBRARY_VARIABLES];
/** What live gdb says for a thread that never allocated the library's block. */
const LIVE_NOT_ALLOCATED = /The inferior has not yet allocated storage for thread-local variables in\s+the shared library `[^']*libtls_values_lib\.so'/;

const probe = (variable: string): string => `thread apply all -c p ${variable}`;

/** `$N = value` of a thread block, or undefined when the block holds no value (an error). */
function printedValue(body: string): string | undefined {
  return /^\$\d+ = (.*)$/m.exec(body)?.[1];
}

/** The per-thread blocks of each command's output, split at `echo @@cmd:N` markers. */
function sections(text: string): string[] {
  return text.split(/^@@cmd:\d+$/m).slice(1);
}

/** Runs `commands` through criu-load with markers between them; returns each one's output. */
async function runSections(gdb: GdbUnderTest, commands: readonly string[], extra: readonly string[] = []): Promise<{ outputs: string[]; stderr: string }> {
  const marked = commands.flatMap((command, i) => [`echo @@cmd:${i}\\n`, command]);
  const run = await gdbOnCheckpoint(imagesDir(NAME), [...marked, ...extra], { gdb: gdb.command });
  expect(run.exitCode, run.stderr).toBe(0);
  return { outputs: sections(run.text), stderr: run.stderr };
}

function tidOf(proc: ProcessTruth, thread: string): number {
  return Number(fact(proc, `thread.${thread}.tid`));
}

function touchesLibrary(proc: ProcessTruth, thread: string): boolean {
  return fact(proc, `thread.${thread}.touches_library`) === '1';
}

/**
 * Whether gdb's `printed` value is what the program printed of `variable` in `thread`. Character arrays
 * are compared up to the string's end (gdb shows the NUL padding after it).
 */
function matchesProgram(proc: ProcessTruth, thread: string, variable: string, printed: string | undefined): boolean {
  const value = fact(proc, `thread.${thread}.${variable}`);
  switch (variable) {
    case 'tls_array':
      return printed === `{${value.split(' ').join(', ')}}`;
    case 'tls_record': {
      const [id, tag, ratio] = value.split(' ');
      return new RegExp(`^\\{id = ${id}, tag = "${tag}(\\\\000)*", ratio = ${ratio}\\}$`).test(printed ?? '');
    }
    case 'tls_name':
    case 'lib_tls_label':
      return printed?.startsWith(`"${value}`) === true;
    default:
      return printed === value;
  }
}

for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  describe.skipIf(!availability.available || !gdb.available)(`${gdb.label}: thread-local storage of checkpoint ${NAME}`, () => {
    it('shows errno and every __thread variable of every thread as live gdb and the program did', { timeout: 180_000 }, async () => {
      const proc = loadTruth(NAME).processes[0]!;
      const live = liveView(proc, gdb);
      const { outputs, stderr } = await runSections(gdb, VARIABLES.map(probe));
      VARIABLES.forEach((variable, i) => {
        const ours = new Map(threadBlocks(outputs[i] ?? '').map((b) => [b.tid, b.body]));
        const theirs = new Map(threadBlocks(live.probes?.[probe(variable)] ?? '').map((b) => [b.tid, b.body]));
        for (const thread of THREADS) {
          const tid = tidOf(proc, thread);
          const where = `${variable} in thread ${thread} (${tid})`;
          const body = ours.get(tid);
          const liveBody = theirs.get(tid);
          expect(body, `${where}: no output\n${outputs[i]}\n${stderr}`).toBeDefined();
          expect(liveBody, `${where}: not in the live probe`).toBeDefined();
          const value = printedValue(body!);
          if ((LIBRARY_VARIABLES as readonly string[]).includes(variable) && !touchesLibrary(proc, thread)) {
            expect(liveBody).toMatch(LIVE_NOT_ALLOCATED);
            expect(value, `${where}: a value for a block the thread never allocated`).toBeUndefined();
            expect(body).toMatch(gdb.major >= 17 ? LIVE_NOT_ALLOCATED : /Cannot find thread-local storage for Thread \d+\.\d+, shared library \S*libtls_values_lib\.so:\s+Remote target failed to process qGetTLSAddr request/);
            continue;
          }
          expect(value, `${where}: ${body}`).toBe(printedValue(liveBody!));
          expect(matchesProgram(proc, thread, variable, value), `${where}: ${value} is not what the program printed`).toBe(true);
        }
      });
    });

    it('puts each variable at the address the program printed', { timeout: 180_000 }, async () => {
      const proc = loadTruth(NAME).processes[0]!;
      const addresses = ['errno', 'tls_counter', 'lib_tls_value'];
      const { outputs } = await runSections(gdb, addresses.map((v) => probe(`&${v}`)));
      addresses.forEach((variable, i) => {
        const ours = new Map(threadBlocks(outputs[i] ?? '').map((b) => [b.tid, b.body]));
        for (const thread of THREADS) {
          if (variable === 'lib_tls_value' && !touchesLibrary(proc, thread)) continue;
          const address = /0x[0-9a-f]+/.exec(printedValue(ours.get(tidOf(proc, thread)) ?? '') ?? '')?.[0];
          expect(address, `&${variable} in thread ${thread}`).toBe(fact(proc, `thread.${thread}.${variable}.addr`));
        }
      });
    });

    it(gdb.major >= 17 ? 'locates glibc TLS itself, without asking the stub' : 'asks the stub with qGetTLSAddr', { timeout: 180_000 }, async () => {
      const proc = loadTruth(NAME).processes[0]!;
      const { outputs, stderr } = await runSections(gdb, ['set debug remote 1', 'p errno', 'set debug remote 0']);
      expect(printedValue(outputs[1] ?? '')).toBe(fact(proc, 'thread.main.errno'));
      const requests = [...stderr.matchAll(/Sending packet: \$(qGetTLSAddr:[^#]*)#/g)].map((m) => m[1]);
      if (gdb.major >= 17) expect(requests).toEqual([]);
      else expect(requests).toEqual([expect.stringMatching(new RegExp(`^qGetTLSAddr:p${proc.pid.toString(16)}\\.${proc.pid.toString(16)},[0-9a-f]+,[0-9a-f]+$`))]);
    });
  });
}

const musl = checkpointAvailability('tls_musl');
if (!musl.available) console.warn(`skipping the musl TLS tests: ${musl.reason}`);

for (const gdb of gdbMatrix()) {
  describe.skipIf(!musl.available || !gdb.available)(`${gdb.label}: thread-local storage of a musl program (tls_musl)`, () => {
    it('shows what live gdb showed: a value where gdb locates musl TLS itself, else an error, never a guess', { timeout: 180_000 }, async () => {
      const proc = loadTruth('tls_musl').processes[0]!;
      const command = 'thread apply all -c p tls_musl_value';
      const run = await gdbOnCheckpoint(imagesDir('tls_musl'), [command], { gdb: gdb.command });
      const ours = new Map(threadBlocks(run.text).map((b) => [b.tid, b.body]));
      // Without libthread_db (musl), live gdb names threads `LWP N "name"`; threadBlocks wants `(LWP N)`.
      const live = (liveView(proc, gdb).probes?.[command] ?? '').replace(/^(Thread \d+ )\(LWP (\d+)( "[^"]*")?\):$/gm, '$1(Thread (LWP $2)$3):');
      const theirs = new Map(threadBlocks(live).map((b) => [b.tid, b.body]));
      expect(theirs.size, live).toBe(2);
      for (const thread of ['main', 'worker']) {
        const tid = tidOf(proc, thread);
        const liveValue = printedValue(theirs.get(tid) ?? '');
        const value = printedValue(ours.get(tid) ?? '');
        if (liveValue === undefined) {
          expect(theirs.get(tid)).toMatch(/Cannot find thread-local variables on this target/);
          expect(value, `${thread}: ${ours.get(tid)}`).toBeUndefined();
          expect(ours.get(tid)).toMatch(/Cannot find thread-local storage for Thread \d+\.\d+, executable file \S*tls_musl:\s+Remote target failed to process qGetTLSAddr request/);
        } else {
          expect(liveValue).toBe(fact(proc, `thread.${thread}.tls_musl_value`));
          expect(value, `${thread}: ${ours.get(tid)}\n${run.stderr}`).toBe(liveValue);
        }
      }
    });
  });
}

describe.skipIf(!availability.available)(`gdb on the core exported from checkpoint ${NAME}`, () => {
  const dir = join(WORK_DIR, 'coredump', `${NAME}-tls`);
  beforeAll(() => {
    rmSync(dir, { recursive: true, force: true });
    coredumpCommand.run(parseArgs([imagesDir(NAME), '-o', dir], coredumpCommand.options));
  }, 300_000);

  it.each(gdbMatrix().filter((gdb) => gdb.available))('$label shows the same errno and __thread values', { timeout: 300_000 }, async (gdb) => {
    const proc = loadTruth(NAME).processes[0]!;
    const args = ['-nx', '-batch', '-iex', 'set debuginfod enabled off', '-iex', 'set pagination off', '-iex', 'set width 0', proc.exe, join(dir, `core.${proc.pid}`)];
    VARIABLES.forEach((variable, i) => args.push('-ex', `echo @@cmd:${i}\\n`, '-ex', probe(variable)));
    const result = await execa(gdb.command, args, { reject: false, timeout: 120_000 });
    const outputs = sections(result.stdout);
    VARIABLES.forEach((variable, i) => {
      const ours = new Map(threadBlocks(outputs[i] ?? '').map((b) => [b.tid, b.body]));
      for (const thread of THREADS) {
        const body = ours.get(tidOf(proc, thread)) ?? '';
        const value = printedValue(body);
        if ((LIBRARY_VARIABLES as readonly string[]).includes(variable) && !touchesLibrary(proc, thread)) {
          expect(value, `${variable} in ${thread}`).toBeUndefined();
          continue;
        }
        expect(matchesProgram(proc, thread, variable, value), `${variable} in ${thread}: ${body}\n${result.stderr}`).toBe(true);
      }
    });
  });
});

/** A defined symbol's value (an offset for a thread-local one), from readelf. */
function symbolValue(path: string, name: string): bigint {
  const out = execFileSync('readelf', ['-sW', path], { encoding: 'utf8' });
  const m = new RegExp(`^\\s*\\d+:\\s+([0-9a-f]+)\\s+\\d+\\s+\\w+\\s+\\w+\\s+\\w+\\s+\\d+\\s+${name}(@|$)`, 'm').exec(out);
  if (!m) throw new Error(`${path}: no symbol ${name}`);
  return BigInt(`0x${m[1]}`);
}

/**
 * The dynamic linker's link maps of the process, by object path: walked from `_r_debug` (its address from
 * readelf and the live load base of ld.so) through the public part of `struct link_map` (<link.h>:
 * l_addr, l_name, l_ld, l_next). The executable's has an empty name.
 */
function linkMaps(checkpoint: Checkpoint, proc: ProcessTruth): Map<string, bigint> {
  const memory = checkpoint.process(proc.pid).memory();
  const word = (address: bigint): bigint => memory.readExact(address, 8).readBigUInt64LE(0);
  const ldso = proc.maps.find((m) => /\/ld-linux-x86-64\.so\.2$/.test(m.name) && parseAddress(m.offset) === 0n);
  if (!ldso) throw new Error('no ld.so mapping');
  const rDebug = parseAddress(ldso.start) + symbolValue(ldso.name, '_r_debug');
  const maps = new Map<string, bigint>();
  for (let map = word(rDebug + 8n), steps = 0; map !== 0n && steps < 64; map = word(map + 24n), steps++) {
    const name = memory.readExact(word(map + 8n), 256);
    maps.set(name.subarray(0, name.indexOf(0)).toString('utf8'), map);
  }
  return maps;
}

describe.skipIf(!availability.available || !checkpointAvailability('static_prog').available)('the stub answering qGetTLSAddr', () => {
  let dir: string;
  const checkpoints: Checkpoint[] = [];
  const servers: ProcessServer[] = [];
  const serve = async (name: 'tls_values' | 'static_prog' | 'tls_musl', root?: string): Promise<{ client: RspClient; checkpoint: Checkpoint; proc: ProcessTruth }> => {
    const proc = loadTruth(name).processes[0]!;
    const checkpoint = Checkpoint.open(imagesDir(name), root === undefined ? {} : { root });
    checkpoints.push(checkpoint);
    const server = await serveProcess(checkpoint, proc.pid, join(dir, `${name}-${servers.length}.sock`));
    servers.push(server);
    return { client: await RspClient.connect(server.socketPath), checkpoint, proc };
  };
  const ask = async (client: RspClient, packet: string): Promise<string> => {
    client.send(packet);
    return (await client.until(/^(E|[0-9a-f]+$)/)).at(-1)!;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'criu-gdb-tls-'));
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    for (const checkpoint of checkpoints) checkpoint.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the address the program printed, or an error for a block the thread never allocated', async () => {
    const { client, checkpoint, proc } = await serve(NAME);
    const maps = linkMaps(checkpoint, proc);
    const libc = [...maps.keys()].find((path) => /\/libc\.so\.6$/.test(path))!;
    const library = fact(proc, 'library.path');
    const cases = [
      { variable: 'errno', linkMap: maps.get(libc)!, offset: symbolValue(libc, 'errno') },
      { variable: 'tls_counter', linkMap: maps.get('')!, offset: symbolValue(proc.exe, 'tls_counter') },
      { variable: 'lib_tls_value', linkMap: maps.get(library)!, offset: symbolValue(library, 'lib_tls_value') },
    ];
    for (const thread of THREADS) {
      const tid = tidOf(proc, thread);
      for (const { variable, linkMap, offset } of cases) {
        const reply = await ask(client, `qGetTLSAddr:p${proc.pid.toString(16)}.${tid.toString(16)},${offset.toString(16)},${linkMap.toString(16)}`);
        if (variable === 'lib_tls_value' && !touchesLibrary(proc, thread)) {
          expect(reply.replace(/\(TLS module \d+\)/, '(TLS module N)'), `${variable} in ${thread}`).toBe(
            `E.thread ${tid} has not allocated its thread-local storage of ${library} (TLS module N) yet`,
          );
        } else {
          expect(`0x${reply}`, `${variable} in ${thread}`).toBe(fact(proc, `thread.${thread}.${variable}.addr`));
        }
      }
    }
    client.close();
  });

  it('answers malformed requests, unknown threads and non-link-maps with an error', async () => {
    const { client, proc } = await serve(NAME);
    const pid = proc.pid.toString(16);
    expect(await ask(client, 'qGetTLSAddr:zz,10,1000')).toBe('E16');
    expect(await ask(client, `qGetTLSAddr:p${pid}.${pid},10`)).toBe('E16');
    expect(await ask(client, `qGetTLSAddr:p${pid}.1,10,1000`)).toBe(`E.process ${proc.pid} has no thread 1`);
    expect(await ask(client, `qGetTLSAddr:p1.${pid},10,1000`)).toBe('E.no such process');
    expect(await ask(client, `qGetTLSAddr:p${pid}.${pid},10,0`)).toMatch(/^E\.cannot locate the thread-local storage of thread \d+: memory at 0x[0-9a-f]+ is unavailable: not mapped$/);
    client.close();
  });

  it('says so when libc itself is not in the root, rather than guessing', async () => {
    const root = mkdtempSync(join(dir, 'empty-root-'));
    const { client, proc } = await serve(NAME, root);
    const pid = proc.pid.toString(16);
    expect(await ask(client, `qGetTLSAddr:p${pid}.${pid},10,1000`)).toMatch(
      /^E\.libc's libthread_db layout descriptors cannot be read from the checkpoint \(\S*\/libc\.so\.6: memory at 0x[0-9a-f]+ is unavailable: .*\)$/,
    );
    client.close();
  });

  it.skipIf(!musl.available)('says that a musl program has no descriptors to locate TLS with', async () => {
    const { client, proc } = await serve('tls_musl');
    const pid = proc.pid.toString(16);
    expect(await ask(client, `qGetTLSAddr:p${pid}.${pid},0,1000`)).toBe(
      "E.no loaded library exports libthread_db's layout descriptors (glibc 2.34 and later has them in libc.so.6; musl and static programs do not)",
    );
    client.close();
  });

  it('says that a static program has no descriptors to locate TLS with', async () => {
    const { client, proc } = await serve('static_prog');
    const pid = proc.pid.toString(16);
    expect(await ask(client, `qGetTLSAddr:p${pid}.${pid},0,1000`)).toMatch(/^E\.no loaded library exports libthread_db's layout descriptors \(glibc 2\.34 and later/);
    client.close();
  });
});
