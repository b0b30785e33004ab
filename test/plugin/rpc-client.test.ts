/**
 * The gdb plugin's JSON-RPC client module runs under a plain /usr/bin/python3, without gdb: the Python
 * tests in test_rpc_client.py start the real built helper (`npm run build` first) and fake ones.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/checkpoints.js';

describe('gdb-plugin/criu_gdb_plugin/rpc.py', () => {
  it('passes its Python tests under plain python3, without gdb', async () => {
    const result = await execa('/usr/bin/python3', ['-B', join(REPO_ROOT, 'test', 'plugin', 'test_rpc_client.py'), '-v'], { reject: false, timeout: 60_000 });
    expect(result.stderr).toMatch(/^OK$/m);
    expect(result.stderr).toMatch(/Ran 9 tests/);
    expect(result.exitCode).toBe(0);
  }, 60_000);
});
