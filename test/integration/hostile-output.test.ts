/**
 * Hostile checkpoints, issue 12 point 7: control characters from the images are escaped in text output and
 * kept exact in --json. A thread of a copy of a real checkpoint is renamed to set the window title, write
 * the clipboard (OSC 52) and forge a row of the table.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { messageType } from '../helpers/proto-types.js';
import { checkpointAvailability, imagesDir, loadTruth } from '../helpers/checkpoints.js';
import { copyImages, lengthPrefix, removeScratch, runBounded, scratchDir, splitSingleEntry } from '../helpers/hostile.js';

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

describe.skipIf(!checkpointAvailability('named_threads').available)('terminal escapes in the helper warnings gdb prints', () => {
  it('a mapped file whose path has escapes: the warning reaches gdb escaped', { timeout: 120_000 }, async () => {
    // The libc mapping names a file that exists, with escapes in its name, and is not the mapped libc.
    const evilName = join(scratchDir('evil'), 'libc\x1b]0;PWNED\x07\x1b[2J.so');
    writeFileSync(evilName, 'not libc');
    const dir = copyImages(imagesDir('named_threads'));
    const file = join(dir, 'files.img');
    const bytes = readFileSync(file);
    const type = messageType('FileEntry');
    const out: Buffer[] = [bytes.subarray(0, 8)];
    let renamed = 0;
    for (let at = 8; at < bytes.length; ) {
      const length = bytes.readUInt32LE(at);
      const entry = type.toObject(type.decode(bytes.subarray(at + 4, at + 4 + length))) as { reg?: { name?: string; size?: number } };
      if (entry.reg?.name && /\/libc[.-]/.test(entry.reg.name)) {
        entry.reg.name = evilName;
        renamed++;
      }
      const encoded = Buffer.from(type.encode(type.fromObject(entry)).finish());
      out.push(lengthPrefix(encoded.length), encoded);
      at += 4 + length;
    }
    expect(renamed).toBe(1);
    writeFileSync(file, Buffer.concat(out));

    const run = await gdbOnCheckpoint(dir, ['criu maps']);
    const printed = `${run.stdout}\n${run.stderr}`;
    expect(printed).toContain('libc\\x1b]0;PWNED\\x07\\x1b[2J.so');
    expect(printed).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});
