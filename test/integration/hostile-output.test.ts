/**
 * Hostile checkpoints, issue 12 point 7: control characters from the images are escaped in text output and
 * kept exact in --json. A thread of a copy of a real checkpoint is renamed to set the window title, write
 * the clipboard (OSC 52) and forge a row of the table.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { messageType } from '../../src/images/schema.js';
import { checkpointAvailability, imagesDir, loadTruth } from '../helpers/checkpoints.js';
import { copyImages, lengthPrefix, removeScratch, runBounded, splitSingleEntry } from '../helpers/hostile.js';

afterAll(removeScratch);

const EVIL = 'w\x1b]0;PWNED\x07\x1b]52;c;SGVsbG8=\x07\x1b[2J\n99999  1      stopped  1        forged';

describe.skipIf(!checkpointAvailability('named_threads').available)('terminal escapes from the images', () => {
  it('a thread name with escapes is escaped in text and exact in --json', { timeout: 60_000 }, async () => {
    const truth = loadTruth('named_threads');
    const thread = truth.processes[0]!.threads[1]!;
    const dir = copyImages(imagesDir('named_threads'));
    const file = join(dir, `core-${thread.tid}.img`);
    expect(readdirSync(dir)).toContain(`core-${thread.tid}.img`);
    const { header, payload } = splitSingleEntry(file);
    const type = messageType('CoreEntry');
    const core = type.toObject(type.decode(payload)) as { thread_core?: { comm?: string } };
    core.thread_core = { ...core.thread_core, comm: EVIL };
    const entry = Buffer.from(type.encode(type.fromObject(core)).finish());
    const rest = readFileSync(file).subarray(12 + payload.length);
    writeFileSync(file, Buffer.concat([header, lengthPrefix(entry.length), entry, rest]));

    const text = await runBounded(['ps', dir]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(text.stdout).toContain(`thread ${thread.tid} w\\x1b]0;PWNED\\x07\\x1b]52;c;SGVsbG8=\\x07\\x1b[2J\\x0a99999  1`);
    expect(text.stdout).not.toMatch(/^99999 /m);

    const json = await runBounded(['ps', dir, '--json']);
    expect(json.exitCode).toBe(0);
    const records = JSON.parse(json.stdout) as Array<{ threads: Array<{ tid: number; name: string }> }>;
    expect(records[0]!.threads.find((t) => t.tid === thread.tid)?.name).toBe(EVIL);
  });
});
