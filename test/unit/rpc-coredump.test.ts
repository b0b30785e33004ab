/**
 * The helper's `coredump` request (what `criu coredump` in gdb sends), in process: parameter validation,
 * refusal before `open` and for a pid the session does not serve, and a real export of the demo fixture.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node.js';
import { afterAll, describe, expect, it } from 'vitest';
import { readCriuGdbInfo } from '../../src/export/core-reader.js';
import { HelperHandler, parseCoredumpParams } from '../../src/rpc/handler.js';
import { RpcErrorCode, type CoredumpResultMessage } from '../../src/rpc/protocol.js';
import { fixtureImagesDir, fixtureRootfs, loadFixtureTruth, rootProcess } from '../helpers/checkpoints.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-export-rpc-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function handler(): { handler: HelperHandler; progress: string[] } {
  const progress: string[] = [];
  const h = new HelperHandler({ progress: async (message) => void progress.push(message), shutdownRequested: () => undefined, version: 'test' });
  return { handler: h, progress };
}

async function rpcError(promise: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ResponseError) return error;
    throw error;
  }
  throw new Error('expected a JSON-RPC error');
}

describe('coredump request', () => {
  it('validates its parameters', () => {
    expect(parseCoredumpParams({ directory: '/tmp/x' })).toEqual({ directory: '/tmp/x', pid: undefined });
    expect(parseCoredumpParams({ directory: '/tmp/x', pid: 7 })).toEqual({ directory: '/tmp/x', pid: 7 });
    expect(() => parseCoredumpParams({})).toThrow(/'directory' is required/);
    expect(() => parseCoredumpParams({ directory: 'relative' })).toThrow(/absolute path/);
    expect(() => parseCoredumpParams({ directory: '/tmp/x', pid: 0 })).toThrow(/'pid' must be an integer/);
    expect(() => parseCoredumpParams({ directory: '/tmp/x', extra: 1 })).toThrow(/unknown parameter 'extra'/);
  });

  it('is refused before a checkpoint is open', async () => {
    const { handler: h } = handler();
    const error = await rpcError(h.request('coredump', { directory: scratch }));
    expect(error.code).toBe(RpcErrorCode.notOpen);
  });

  it('exports the served processes of the open checkpoint, and refuses a pid it does not serve', { timeout: 60_000 }, async () => {
    const live = rootProcess(loadFixtureTruth('demo'));
    const { handler: h } = handler();
    try {
      await h.request('open', { path: fixtureImagesDir('demo'), root: fixtureRootfs('demo') });
      const unknown = await rpcError(h.request('coredump', { directory: scratch, pid: 1 }));
      expect(unknown.code).toBe(RpcErrorCode.invalidParams);
      expect(unknown.message).toMatch(/pid 1 is not served/);
      const out = join(scratch, 'cores');
      const result = (await h.request('coredump', { directory: out })) as CoredumpResultMessage;
      expect(result.cores.map((c) => c.pid)).toEqual([live.pid]);
      const core = result.cores[0]!;
      expect(core.path).toBe(join(out, `core.${live.pid}`));
      expect(existsSync(core.path)).toBe(true);
      expect(core.allocatedBytes).toBeLessThan(core.apparentBytes);
      expect(result.text).toContain(`${core.path}: pid ${live.pid} (demo), 3 threads`);
      expect(readCriuGdbInfo(core.path)!.threads.map((t) => t.name)).toEqual(['demo', 'stocker', 'clock']);
    } finally {
      await h.close();
    }
  });
});
