/**
 * Every image decoder is a leaf: each module of src/images loads on its own in a fresh node process, whatever
 * the order (an import cycle made `signals.js` fail with "Cannot access 'SIGNAL_MAX' before initialization").
 * Uses the built modules (`npm run build` first).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/checkpoints.js';

const IMAGES = join(REPO_ROOT, 'src', 'images');
const modules = readdirSync(IMAGES).filter((name) => name.endsWith('.ts')).map((name) => name.replace(/\.ts$/, '.js'));

describe('each src/images module loads alone', () => {
  it('finds the modules', () => expect(modules.length).toBeGreaterThan(20));
  for (const module of modules) {
    it(module, async () => {
      const url = new URL(`file://${join(REPO_ROOT, 'dist', 'src', 'images', module)}`).href;
      const result = await execa('node', ['-e', `import(${JSON.stringify(url)}).catch((e) => { console.error(String(e)); process.exit(1); })`], { reject: false });
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
    });
  }
});
