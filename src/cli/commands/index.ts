import { UsageError } from '../../errors.js';
import { views } from '../../views/index.js';
import { viewCommand, type Command } from './command.js';
import { coredumpCommand } from './coredump.js';
import { demoCommand } from './demo.js';
import { gdbinitCommand } from './gdbinit.js';
import { launchCommand } from './launch.js';
import { listCommand } from './list.js';

/** The CLI commands of the views, by name. */
const viewCommands = new Map(views.map((view) => [view.name, viewCommand(view)]));

function viewCommandNamed(name: string): Command {
  const command = viewCommands.get(name);
  if (!command) throw new Error(`no view ${name}`);
  return command;
}

export const infoCommand = viewCommandNamed('info');
export const psCommand = viewCommandNamed('ps');
export const mapsCommand = viewCommandNamed('maps');
export const fdsCommand = viewCommandNamed('fds');
export const searchCommand = viewCommandNamed('search');
export const showCommand = viewCommandNamed('show');
export const inspectCommand = viewCommandNamed('inspect');

/** Every CLI command, in the order help lists them. */
export const commands: readonly Command[] = [...viewCommands.values(), listCommand, coredumpCommand, launchCommand, gdbinitCommand, demoCommand];

/** The command called `name`, or a usage error. */
export function findCommand(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command '${name}'`);
  return command;
}
