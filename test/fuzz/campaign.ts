/**
 * Fuzzing campaign over real checkpoints: mutates one image at a time and drives every layer over the
 * result (see exercise.ts). Prints a table of outcomes per mutation and every defect with its seed.
 *
 *   npx tsx test/fuzz/campaign.ts [CASES] [SEED]        (default 5000 cases)
 *
 * Checkpoints: the committed fixtures, plus the fresh ones from `npm test` when they exist.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exercise, type Outcome } from './exercise.js';
import { MUTATIONS, mutate, Random } from './mutate.js';
import { CHECKPOINTS_DIR, FIXTURES_DIR } from '../helpers/checkpoints.js';

/** A checkpoint to mutate: images directory and the root its files resolve in. */
export interface FuzzSubject {
  name: string;
  images: string;
  root: string;
}

/** The committed fixtures and any fresh checkpoints on this machine. */
export function fuzzSubjects(includeFresh: boolean): FuzzSubject[] {
  const subjects: FuzzSubject[] = [
    { name: 'demo', images: join(FIXTURES_DIR, 'demo', 'checkpoint'), root: join(FIXTURES_DIR, 'demo', 'rootfs') },
    { name: 'pie-threads', images: join(FIXTURES_DIR, 'pie-threads', 'checkpoint'), root: join(FIXTURES_DIR, 'pie-threads', 'rootfs') },
  ];
  if (includeFresh && existsSync(CHECKPOINTS_DIR)) {
    for (const name of readdirSync(CHECKPOINTS_DIR)) {
      const images = join(CHECKPOINTS_DIR, name, 'images');
      if (existsSync(join(images, 'inventory.img'))) subjects.push({ name, images, root: '/' });
    }
  }
  return subjects;
}

/** One fuzz case: which subject, mutation and image, and what happened. */
export interface FuzzCase {
  seed: number;
  subject: string;
  kind: string;
  image: string;
  detail: string;
  outcome: Outcome;
}

/** Runs one case, deterministic for its seed. */
export function runCase(subjects: readonly FuzzSubject[], seed: number): FuzzCase {
  const random = new Random(seed);
  const subject = random.pick(subjects);
  const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-fuzz-'));
  try {
    const dir = join(scratch, 'images');
    cpSync(subject.images, dir, { recursive: true });
    const images = readdirSync(dir).filter((name) => name.endsWith('.img') && !name.startsWith('pages-'));
    const kind = random.pick(MUTATIONS);
    const image = random.pick(images);
    const mutation = mutate(dir, kind, image, random);
    return { seed, subject: subject.name, kind, image, detail: mutation.detail, outcome: exercise(dir, subject.root) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function main(): void {
  const cases = Number(process.argv[2] ?? 5000);
  const firstSeed = Number(process.argv[3] ?? 1);
  const subjects = fuzzSubjects(true);
  const table = new Map<string, { ok: number; typed: number; defect: number; slowest: number }>();
  const defects: FuzzCase[] = [];
  const started = Date.now();
  for (let seed = firstSeed; seed < firstSeed + cases; seed++) {
    const result = runCase(subjects, seed);
    const row = table.get(result.kind) ?? { ok: 0, typed: 0, defect: 0, slowest: 0 };
    if (result.outcome.type === 'ok') row.ok++;
    else if (result.outcome.type === 'typed-error') row.typed++;
    else {
      row.defect++;
      defects.push(result);
    }
    row.slowest = Math.max(row.slowest, result.outcome.ms);
    table.set(result.kind, row);
  }
  console.log(`${cases} cases over ${subjects.map((s) => s.name).join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(['mutation'.padEnd(16), 'opened'.padStart(7), 'refused'.padStart(8), 'defects'.padStart(8), 'slowest ms'.padStart(11)].join(' '));
  for (const [kind, row] of [...table].sort()) {
    console.log([kind.padEnd(16), String(row.ok).padStart(7), String(row.typed).padStart(8), String(row.defect).padStart(8), row.slowest.toFixed(0).padStart(11)].join(' '));
  }
  for (const defect of defects.slice(0, 20)) {
    console.log(`DEFECT seed ${defect.seed}: ${defect.subject} ${defect.kind} ${defect.image} (${defect.detail}): ${defect.outcome.type === 'defect' ? defect.outcome.message : ''}`);
    if (defect.outcome.type === 'defect' && defect.outcome.stack) console.log(defect.outcome.stack.split('\n').slice(1, 4).join('\n'));
  }
  process.exitCode = defects.length > 0 ? 1 : 0;
}

if (process.argv[1]?.endsWith('campaign.ts')) main();
