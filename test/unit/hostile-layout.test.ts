/**
 * Hostile checkpoint layouts, issue 12 lesser points: a `checkpoint` symlink in an unpacked container
 * directory is refused, not followed; the `parent` of an incremental dump is accepted only right next to
 * the checkpoint, not anywhere below its containing folder. Built from copies of a real checkpoint.
 */
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, ImageError } from '../../src/errors.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { checkpointAvailability, imagesDir } from '../helpers/checkpoints.js';
import { removeScratch, scratchDir } from '../helpers/hostile.js';

afterAll(removeScratch);

const available = checkpointAvailability('named_threads').available;

describe.skipIf(!available)('where the images of a checkpoint may be', () => {
  it('refuses a checkpoint/ that is a symbolic link, and opens a real one', () => {
    const work = scratchDir('layout');
    const elsewhere = join(work, 'elsewhere');
    cpSync(imagesDir('named_threads'), elsewhere, { recursive: true });
    const container = join(work, 'container');
    mkdirSync(container);
    writeFileSync(join(container, 'config.dump'), '{}');
    symlinkSync(elsewhere, join(container, 'checkpoint'));
    expect(() => Checkpoint.open(container)).toThrow(CheckpointError);
    expect(() => Checkpoint.open(container)).toThrow(/checkpoint is a symbolic link \(refused/);

    const real = join(work, 'real');
    mkdirSync(real);
    writeFileSync(join(real, 'config.dump'), '{}');
    cpSync(elsewhere, join(real, 'checkpoint'), { recursive: true });
    const opened = Checkpoint.open(real);
    try {
      expect(opened.processes.length).toBeGreaterThan(0);
    } finally {
      opened.close();
    }
  });

  it('accepts a parent right next to the checkpoint, refuses one deeper in its folder', () => {
    const work = scratchDir('parent');
    const final = join(work, 'final');
    cpSync(imagesDir('named_threads'), final, { recursive: true });
    cpSync(imagesDir('named_threads'), join(work, 'pre'), { recursive: true });
    mkdirSync(join(work, 'a', 'b'), { recursive: true });
    cpSync(imagesDir('named_threads'), join(work, 'a', 'b', 'pre'), { recursive: true });

    symlinkSync('../pre', join(final, 'parent'));
    const next = Checkpoint.open(final);
    try {
      expect(next.dir.parent()?.path).toBe(join(work, 'pre'));
    } finally {
      next.close();
    }

    const deeper = join(work, 'deeper');
    cpSync(imagesDir('named_threads'), deeper, { recursive: true });
    symlinkSync('../a/b/pre', join(deeper, 'parent'));
    const opened = Checkpoint.open(deeper);
    try {
      expect(() => opened.dir.parent()).toThrow(ImageError);
      expect(() => opened.dir.parent()).toThrow(/^parent: is not next to the checkpoint/);
    } finally {
      opened.close();
    }
  });
});
