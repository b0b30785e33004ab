/**
 * The build-id lookup against a real debuginfod server (Debian's elfutils debuginfod), started on the
 * loopback address by the test, scanning a directory that holds a test program's binary.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebuginfodError, debuginfodSettings, fileBuildId, findByBuildId, type DebuginfodSettings } from '../../src/rootfs/debuginfod.js';
import { WORK_DIR, checkpointAvailability, loadTruth } from '../helpers/checkpoints.js';
import { debuginfodInstalled as installed, startDebuginfod, type DebuginfodServer } from '../helpers/debuginfod-server.js';

if (!installed) console.warn('skipping the debuginfod tests: the debuginfod server is not installed (npm test installs Debian\'s debuginfod)');
const subject = checkpointAvailability('pie_callchain');

describe.skipIf(!installed || !subject.available)('build-id lookup with a real debuginfod server', () => {
  let work: string;
  let server: DebuginfodServer | undefined;
  let url: string;
  let binary: Buffer;
  let buildId: string;
  const settings = (overrides: Partial<DebuginfodSettings> = {}): DebuginfodSettings => ({
    ...debuginfodSettings({}),
    urls: [url],
    cacheDir: join(work, 'cache'),
    buildIdDirs: [],
    ...overrides,
  });

  beforeAll(async () => {
    work = mkdtempSync(join(WORK_DIR, 'debuginfod-'));
    const served = join(work, 'served');
    mkdirSync(served);
    const source = loadTruth('pie_callchain').program.binary;
    copyFileSync(source, join(served, 'pie_callchain'));
    binary = readFileSync(source);
    buildId = fileBuildId(source)!;
    expect(buildId).toMatch(/^[0-9a-f]{40}$/);
    server = await startDebuginfod(served, work, buildId);
    url = server.url;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('downloads the executable into the client cache, checked against its build-id, then reads it from there', async () => {
    const progress: string[] = [];
    const found = await findByBuildId(buildId, 'executable', settings(), { progress: (line) => progress.push(line) });
    expect(found).toMatchObject({ from: 'server', url, path: join(work, 'cache', buildId, 'executable') });
    expect(readFileSync(found!.path).equals(binary)).toBe(true);
    expect(progress[0]).toMatch(new RegExp(`^Downloading executable for build-id ${buildId} from 127\\.0\\.0\\.1:\\d+`));
    await server?.stop();
    expect(await findByBuildId(buildId, 'executable', settings())).toEqual({ path: found!.path, from: 'cache' });
  });

  it('finds nothing for a build-id no server has, and stops when cancelled', async () => {
    const fresh = settings({ cacheDir: join(work, 'cache-2') });
    const unknown = '00'.repeat(20);
    const restarted = spawn('debuginfod', ['-p', url.split(':').pop()!, '-d', join(work, 'empty.sqlite')], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && (await fetch(`${url}/metrics`).then(async (r) => (await r.arrayBuffer(), r.status), () => 0)) !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await findByBuildId(unknown, 'executable', fresh)).toBeUndefined();
      const cancelled = new AbortController();
      cancelled.abort();
      await expect(findByBuildId(buildId, 'executable', fresh, { signal: cancelled.signal })).rejects.toThrow(DebuginfodError);
    } finally {
      restarted.kill('SIGTERM');
    }
  });

  it('prefers a local .build-id tree to any server, and rejects a file there whose build-id differs', async () => {
    const tree = join(work, 'debug', '.build-id', buildId.slice(0, 2));
    mkdirSync(tree, { recursive: true });
    copyFileSync(join(work, 'served', 'pie_callchain'), join(tree, buildId.slice(2)));
    const local = settings({ urls: [], cacheDir: join(work, 'cache-3'), buildIdDirs: [join(work, 'debug')] });
    expect(await findByBuildId(buildId, 'executable', local)).toEqual({ path: join(tree, buildId.slice(2)), from: 'local' });
    const other = 'ab'.repeat(20);
    mkdirSync(join(work, 'debug', '.build-id', 'ab'), { recursive: true });
    copyFileSync(join(work, 'served', 'pie_callchain'), join(work, 'debug', '.build-id', 'ab', other.slice(2)));
    expect(await findByBuildId(other, 'executable', local)).toBeUndefined();
  });
});
