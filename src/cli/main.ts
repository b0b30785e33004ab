#!/usr/bin/env node
/**
 * The criu-gdb program. `criu-gdb DIR ...` starts gdb (commands/launch.ts), any other words run a command
 * (run.ts). Each route loads only its own modules, so that the launcher starts gdb sooner.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isLaunch, launchGdb } from './commands/launch.js';

/** The names of the CLI's commands (loading every command). */
async function commandNames(): Promise<string[]> {
  const { commands } = await import('./commands/index.js');
  return commands.map((c) => c.name);
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const argv = process.argv.slice(2);
  const err = (text: string): void => void process.stderr.write(`${text}\n`);
  process.exitCode = (await isLaunch(argv, commandNames)) ? await launchGdb(argv, err) : (await import('./run.js')).runCommandLine(argv, err);
}
