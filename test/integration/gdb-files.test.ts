/**
 * The files gdb gets: local files by the processes' own paths, so that gdb's extensions load as on the live
 * process (libstdc++'s pretty printers, python3's py-bt, `info sharedlibrary` names), on every gdb of the
 * version matrix; and a checkpoint whose executable was rebuilt since the dump: named in a warning with both
 * build-ids, never given to gdb (no frames named after the wrong build), and found by build-id in a local
 * `.build-id` tree or on a real debuginfod server (Debian's), which gives back the live backtrace.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { fileBuildId } from '../../src/rootfs/debuginfod.js';
import { HelperHandler } from '../../src/rpc/handler.js';
import { REPO_ROOT, checkpointAvailability, imagesDir, loadTruth, type CheckpointName } from '../helpers/checkpoints.js';
import { debuginfodInstalled, startDebuginfod, type DebuginfodServer } from '../helpers/debuginfod-server.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { frameFunctions, gdbOnCheckpoint, liveView, normalizedBacktrace, threadBlocks } from '../helpers/gdb-session.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Runs `commands` in gdb on checkpoint `name`, each output framed so that it can be compared on its own. */
async function probeOutputs(name: CheckpointName, commands: readonly string[], gdb: string): Promise<{ outputs: Record<string, string>; stderr: string }> {
  const framed = commands.flatMap((command, i) => [`python print('@@PROBE ${i}')`, command]);
  const { text, stderr } = await gdbOnCheckpoint(imagesDir(name), [...framed, "python print('@@PROBE end')"], { gdb });
  const outputs: Record<string, string> = {};
  commands.forEach((command, i) => {
    const match = new RegExp(`^@@PROBE ${i}\\n([\\s\\S]*?)^@@PROBE `, 'm').exec(text);
    outputs[command] = (match?.[1] ?? '').trim();
  });
  return { outputs, stderr };
}

/** The Python errors gdb reported (its extensions' own defects show on the live process too). */
function pythonErrors(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^Python Exception|^Traceback|^Error occurred in Python/.test(line));
}

const fidelity: Array<{ name: CheckpointName; probes: string[]; what: string }> = [
  { name: 'cxx_values', probes: ['p g_vec', 'p g_str', 'p g_shared', 'p g_map', 'info sharedlibrary'], what: "C++ values through libstdc++'s printers and the library names" },
  { name: 'py_stack', probes: ['py-bt', 'info sharedlibrary'], what: "python3's py-bt (from python3.11-dbg's gdb script) and the library names" },
];

for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  for (const { name, probes, what } of fidelity) {
    const availability = checkpointAvailability(name);
    describe.skipIf(!availability.available || !gdb.available)(`${gdb.label} on checkpoint ${name}: local files`, () => {
      it(`shows ${what} as on the live process`, { timeout: 180_000 }, async () => {
        const truth = loadTruth(name);
        const { outputs, stderr } = await probeOutputs(name, probes, gdb.command);
        for (const process of truth.processes) {
          expect(pythonErrors(stderr), `${name} ${gdb.label}: Python errors`).toEqual(pythonErrors(liveView(process, gdb).stderr));
          const live = liveView(process, gdb).probes ?? {};
          for (const probe of probes) {
            expect(live[probe], `${name}: the truth has no live '${probe}' from ${gdb.label}`).toBeTruthy();
            expect(outputs[probe], `${name} ${gdb.label}: ${probe}`).toBe(live[probe]!.trim());
          }
        }
      });
    });
  }
}

if (!debuginfodInstalled) console.warn("skipping the debuginfod part of the rebuilt-executable tests: the debuginfod server is not installed (npm test installs Debian's debuginfod)");
const subject = checkpointAvailability('pie_callchain');
const compilerThere = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;

/** Copies `hostPath` to `path` under `root`. */
function place(root: string, path: string, hostPath: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  copyFileSync(hostPath, join(root, path));
}

describe.skipIf(!subject.available || !compilerThere)('a checkpoint whose executable was rebuilt after the dump', () => {
  let work: string;
  let root: string;
  let exe: string;
  let recordedBuildId: string;
  let rebuiltBuildId: string;
  const programFrames = ['main', 'level_one', 'level_two', 'level_three', 'zz_padding', 'zz_padding_2'];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'criu-gdb-rebuilt-'));
    root = join(work, 'root');
    const truth = loadTruth('pie_callchain');
    exe = truth.program.binary;
    recordedBuildId = truth.program.buildId!;
    // The root holds the libraries the process mapped, as they are on this machine, and the merged-/usr links.
    const checkpoint = Checkpoint.open(imagesDir('pie_callchain'));
    try {
      for (const file of checkpoint.mappedFiles()) if (file.path !== exe) place(root, file.path, file.path);
    } finally {
      checkpoint.close();
    }
    for (const link of ['/lib', '/lib64', '/usr/lib64/ld-linux-x86-64.so.2']) {
      let target: string;
      try {
        target = readlinkSync(link);
      } catch {
        continue;
      }
      mkdirSync(dirname(join(root, link)), { recursive: true });
      // As on the host: an absolute target restarts at the root.
      symlinkSync(target, join(root, link));
    }
    // The same program, rebuilt with functions before it: other addresses, another build-id.
    const padding = join(work, 'pad.c');
    writeFileSync(padding, 'int zz_padding(int x) { return 3 * x + 1; }\nint zz_padding_2(int x) { return zz_padding(x) + 2; }\n');
    mkdirSync(dirname(join(root, exe)), { recursive: true });
    await execa('gcc', ['-O0', '-g', '-o', join(root, exe), padding, join(REPO_ROOT, truth.program.source)]);
    rebuiltBuildId = fileBuildId(join(root, exe))!;
    expect(rebuiltBuildId).toMatch(/^[0-9a-f]{40}$/);
    expect(rebuiltBuildId).not.toBe(recordedBuildId);
  }, 60_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const mismatchLine = (): RegExp =>
    new RegExp(`${exe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid \\d+\\) does not match the checkpoint: build-id ${rebuiltBuildId} here, ${recordedBuildId} at the dump; it is the executable`);

  for (const route of ['local files', 'vFile'] as const) {
    it(`warns at load, names the file with both build-ids, and shows no frame of the wrong build (${route})`, { timeout: 120_000 }, async () => {
      const listView = "python import os; v=gdb.parameter('sysroot'); [print('@@VIEW', os.path.join(d, f)[len(v):], os.path.realpath(os.path.join(d, f))) for d, _, fs in os.walk(v) for f in fs]; [print('@@NAME', n, os.path.realpath(v + n)) for n in ('/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2') if os.path.isfile(v + n)]";
      const { stdout, text } = await gdbOnCheckpoint(imagesDir('pie_callchain'), ['thread apply all bt', listView], {
        root,
        loadOptions: route === 'vFile' ? '--remote-files' : '',
        env: { DEBUGINFOD_URLS: '', DEBUGINFOD_CACHE_PATH: join(work, `empty-cache-${route === 'vFile' ? 'v' : 'l'}`) },
      });
      expect(stdout).toMatch(new RegExp(`^warning: ${mismatchLine().source}`, 'm'));
      const frames = threadBlocks(text).flatMap((block) => frameFunctions(block.body));
      expect(frames.length).toBeGreaterThan(0);
      for (const name of programFrames) expect(frames, `frame named ${name} from the rebuilt executable`).not.toContain(name);
      expect(text).not.toMatch(/pad\.c/);
      if (route === 'local files') {
        // The private view: the libraries (by their recorded and their linker names), every link resolving
        // inside the root, and no executable.
        const view = [...text.matchAll(/^@@VIEW (\S+) (\S+)$/gm)].map((m) => ({ path: m[1]!, real: m[2]! }));
        const names = [...text.matchAll(/^@@NAME (\S+) (\S+)$/gm)].map((m) => ({ path: m[1]!, real: m[2]! }));
        expect(names.map((entry) => entry.path)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
        expect(view.length).toBeGreaterThanOrEqual(2);
        for (const entry of [...view, ...names]) expect(entry.real.startsWith(`${realpathSync(root)}/`), `${entry.path} -> ${entry.real}`).toBe(true);
        expect(view.map((entry) => entry.path)).not.toContain(exe);
      }
    });
  }

  it('criu-gdb info and maps name the file, with both build-ids', { timeout: 60_000 }, async () => {
    const info = await execa('node', [CLI, 'info', imagesDir('pie_callchain'), '--root', root], { reject: false });
    expect(info.stdout).toMatch(/^Files +\d+ mapped: \d+ match the checkpoint, 1 do not, 0 missing/m);
    expect(info.stdout).toMatch(new RegExp(`^Warning +${mismatchLine().source}`, 'm'));
    const maps = await execa('node', [CLI, 'maps', imagesDir('pie_callchain'), '--root', root], { reject: false });
    expect(maps.stdout).toMatch(new RegExp(`^MISSING because ${mismatchLine().source}`, 'm'));
    const json = await execa('node', [CLI, 'maps', imagesDir('pie_callchain'), '--root', root, '--json'], { reject: false });
    const [view] = JSON.parse(json.stdout) as Array<{ mismatchedFiles: Array<{ path: string; recorded: { buildId: string }; actual: { buildId: string } }> }>;
    expect(view?.mismatchedFiles.map((f) => ({ path: f.path, recorded: f.recorded.buildId, actual: f.actual.buildId }))).toEqual([{ path: exe, recorded: recordedBuildId, actual: rebuiltBuildId }]);
  });

  /** `thread apply all bt` through criu-load, compared thread by thread with the live backtraces. */
  async function expectLiveBacktrace(options: { loadOptions?: string; env: Record<string, string> }, note: RegExp): Promise<void> {
    const truth = loadTruth('pie_callchain');
    const { stdout, text } = await gdbOnCheckpoint(imagesDir('pie_callchain'), ['thread apply all bt'], { root, ...options });
    expect(stdout).toMatch(note);
    const ours = threadBlocks(text);
    for (const live of truth.processes) {
      const theirs = threadBlocks(live.gdb.backtraces);
      expect(theirs.length).toBe(live.threads.length);
      for (const thread of theirs) {
        const mine = ours.find((t) => t.tid === thread.tid);
        expect(normalizedBacktrace(mine?.body ?? ''), `thread ${thread.tid} bt`).toBe(normalizedBacktrace(thread.body));
      }
    }
  }

  it('shows the live backtrace with the original from a .build-id directory named by --build-id-dir', { timeout: 120_000 }, async () => {
    const tree = join(work, 'debug', '.build-id', recordedBuildId.slice(0, 2));
    mkdirSync(tree, { recursive: true });
    copyFileSync(exe, join(tree, recordedBuildId.slice(2)));
    await expectLiveBacktrace(
      { loadOptions: `--build-id-dir ${join(work, 'debug')}`, env: { DEBUGINFOD_URLS: '', DEBUGINFOD_CACHE_PATH: join(work, 'cache-local') } },
      new RegExp(`^criu-load: ${exe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: using the file with the recorded build-id ${recordedBuildId}, found in a \\.build-id directory`, 'm'),
    );
  });

  it('stops a download when the open is closed (as when gdb stops the helper on Ctrl-C), leaving no partial file', { timeout: 60_000 }, async () => {
    // A server that announces the file and then sends nothing more.
    const stalled = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(8 * 2 ** 20) });
      response.write(Buffer.alloc(4096));
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const address = stalled.address();
    const cache = join(work, 'cache-stalled');
    const saved = { DEBUGINFOD_URLS: process.env['DEBUGINFOD_URLS'], DEBUGINFOD_CACHE_PATH: process.env['DEBUGINFOD_CACHE_PATH'] };
    process.env['DEBUGINFOD_URLS'] = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    process.env['DEBUGINFOD_CACHE_PATH'] = cache;
    const progress: string[] = [];
    let announced: () => void = () => undefined;
    const downloading = new Promise<void>((resolve) => (announced = resolve));
    const handler = new HelperHandler({
      progress: async (message) => {
        progress.push(message);
        if (message.startsWith('Downloading')) announced();
      },
      shutdownRequested: () => undefined,
      version: 'test',
    });
    try {
      const opening = handler.request('open', { path: imagesDir('pie_callchain'), root }).then(
        () => 'opened',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      // The open must reach the download; if it ends first, its result says why.
      expect(await Promise.race([downloading.then(() => 'downloading'), opening])).toBe('downloading');
      expect(progress[0]).toMatch(new RegExp(`^Downloading executable for build-id ${recordedBuildId} from 127\\.0\\.0\\.1:\\d+`));
      const started = Date.now();
      expect(await handler.request('close', {})).toEqual({ closed: false });
      expect(await opening).toMatch(/cancelled/);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(readdirSync(join(cache, recordedBuildId)).filter((name) => name.endsWith('.part'))).toEqual([]);
      expect(handler.current).toBeUndefined();
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  describe.skipIf(!debuginfodInstalled)('with a debuginfod server that has the original', () => {
    let server: DebuginfodServer | undefined;
    let url: string;

    beforeAll(async () => {
      const served = join(work, 'served');
      mkdirSync(served);
      copyFileSync(exe, join(served, 'pie_callchain'));
      server = await startDebuginfod(served, work, recordedBuildId);
      url = server.url;
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    it('downloads it into the debuginfod cache and shows the live backtrace', { timeout: 120_000 }, async () => {
      const cache = join(work, 'cache-server');
      await expectLiveBacktrace(
        { env: { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cache } },
        new RegExp(`^criu-load: ${exe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: using the file with the recorded build-id ${recordedBuildId}, found from ${url.replace(/\./g, '\\.')}`, 'm'),
      );
      expect(fileBuildId(join(cache, recordedBuildId, 'executable'))).toBe(recordedBuildId);
    });
  });
});
