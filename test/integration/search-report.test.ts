/**
 * What `search` says about what it could not search, and how it shows long matches: a pages file cut
 * short (issue 13) is named once with the count of pages skipped; a regular-expression match longer than
 * the text column is shown bounded, while --json keeps it exact. On a real checkpoint (pie_callchain).
 */
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointAvailability, imagesDir, loadTruth, rootProcess } from '../helpers/checkpoints.js';
import { copyImages, removeScratch, runBounded } from '../helpers/hostile.js';

const NAME = 'pie_callchain';
const PAGE = 4096;
const CUT_PAGES = 3;
let truncated = '';
let pagesImage = '';

beforeAll(() => {
  if (!checkpointAvailability(NAME).available) return;
  truncated = copyImages(imagesDir(NAME));
  pagesImage = readdirSync(truncated)
    .filter((name) => /^pages-\d+\.img$/.test(name))
    .sort((a, b) => statSync(join(truncated, b)).size - statSync(join(truncated, a)).size)[0]!;
  const file = join(truncated, pagesImage);
  truncateSync(file, statSync(file).size - CUT_PAGES * PAGE);
});
afterAll(removeScratch);

describe.skipIf(!checkpointAvailability(NAME).available)('search reports', () => {
  it('names a truncated pages file once, with the number of pages it could not search', { timeout: 60_000 }, async () => {
    const run = await runBounded(['search', truncated, '--hex', 'ff', '--limit', '100000']);
    expect(run.exitCode).toBe(0);
    const warnings = run.stderr.split('\n').filter((line) => line.includes(pagesImage));
    expect(warnings).toEqual([`criu-gdb: warning: search: ${pagesImage} is truncated: ${CUT_PAGES} pages were not searched`]);
  });

  it('says nothing on an intact checkpoint', { timeout: 60_000 }, async () => {
    const run = await runBounded(['search', imagesDir(NAME), '--hex', 'ff', '--limit', '10']);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/truncated|not searched/);
  });

  it('bounds a long regular-expression match in text, and keeps it exact in --json', { timeout: 60_000 }, async () => {
    const live = rootProcess(loadTruth(NAME));
    const args = ['search', imagesDir(NAME), '--pid', String(live.pid), '--regex', '[\\x01-\\xff]{300}', '--limit', '1', '--context', '0'];
    const text = await runBounded(args);
    expect(text.exitCode).toBe(0);
    const line = text.stdout.split('\n')[0]!;
    const shown = /\|(.*)\|$/.exec(line)?.[1] ?? '';
    expect(shown).toMatch(/…\(300 bytes\)$/);
    expect(shown.length).toBeLessThan(100);
    const json = JSON.parse((await runBounded([...args, '--json'])).stdout) as { matches: { length: number; contextHex: string }[] };
    expect(json.matches[0]!.length).toBe(300);
    expect(json.matches[0]!.contextHex).toHaveLength(600);
  });
});
