/**
 * A bounded fuzzing run inside `npm test`: damaged copies of the committed real checkpoints, driven through
 * every layer. Each case must open fine or fail with a typed one-line error; none may crash or hang.
 * The long campaign is `npm run fuzz` (test/fuzz/campaign.ts).
 */
import { describe, expect, it } from 'vitest';
import { fuzzSubjects, runCase } from '../fuzz/campaign.js';
import { MUTATIONS } from '../fuzz/mutate.js';

const CASES = 400;

describe('image parser and model under damaged input', () => {
  it(`handles ${CASES} mutated checkpoints without a defect`, { timeout: 120_000 }, () => {
    const subjects = fuzzSubjects(false);
    const kinds = new Set<string>();
    let refused = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const result = runCase(subjects, seed);
      kinds.add(result.kind);
      if (result.outcome.type === 'defect') {
        throw new Error(`seed ${seed}: ${result.subject} ${result.kind} ${result.image} (${result.detail}): ${result.outcome.message}\n${result.outcome.stack ?? ''}`);
      }
      if (result.outcome.type === 'typed-error') {
        refused++;
        expect(result.outcome.message, `seed ${seed}`).not.toContain('\n');
        expect(result.outcome.ms, `seed ${seed} took too long`).toBeLessThan(5000);
      }
    }
    expect([...kinds].sort()).toEqual([...MUTATIONS].sort());
    expect(refused).toBeGreaterThan(CASES / 4);
  });
});
