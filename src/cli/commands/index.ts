import { UsageError } from '../../errors.js';
import type { Command } from './command.js';
import { coredumpCommand } from './coredump.js';
import { demoCommand } from './demo.js';
import { fdsCommand } from './fds.js';
import { gdbinitCommand } from './gdbinit.js';
import { launchCommand } from './launch.js';
import { searchCommand } from './search.js';
import { showCommand } from './show.js';
import { inspectCommand } from './inspect.js';
import { infoCommand } from './info.js';
import { mapsCommand } from './maps.js';
import { psCommand } from './ps.js';
import { readCommand } from './read.js';

/** Every CLI command, in the order help lists them. */
export const commands: readonly Command[] = [infoCommand, psCommand, mapsCommand, fdsCommand, readCommand, searchCommand, showCommand, inspectCommand, coredumpCommand, launchCommand, gdbinitCommand, demoCommand];

/** The command called `name`, or a usage error. */
export function findCommand(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command '${name}'`);
  return command;
}
