import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CriuGdbError, UsageError } from '../../errors.js';
import { packageRoot } from '../../package.js';
import { helpText } from '../../views/view.js';
import { wrapParagraphs } from '../../views/wrap.js';
import type { Command } from './command.js';

const PLUGIN_RELATIVE = join('gdb-plugin', 'criu_gdb.py');

/** Absolute path of gdb-plugin/criu_gdb.py in the criu-gdb package. */
export function pluginPath(): string {
  const plugin = join(packageRoot(), PLUGIN_RELATIVE);
  if (!existsSync(plugin)) throw new CriuGdbError(`cannot find ${PLUGIN_RELATIVE} in ${packageRoot()}`);
  return plugin;
}

/** The line that loads the plugin in gdb: `source /abs/path/gdb-plugin/criu_gdb.py`. */
export function gdbinitLine(): string {
  return `source ${pluginPath()}`;
}

/** ~/.gdbinit, honouring $HOME. */
export function gdbinitFile(): string {
  const home = process.env['HOME'];
  return join(home !== undefined && home !== '' ? home : homedir(), '.gdbinit');
}

/** Appends the source line to ~/.gdbinit unless it is already there; returns whether it was added. */
export function installGdbinit(file = gdbinitFile()): boolean {
  const line = gdbinitLine();
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch (error) {
    if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) {
      throw new CriuGdbError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (current.split('\n').some((l) => l.trim() === line)) return false;
  const prefix = current === '' || current.endsWith('\n') ? '' : '\n';
  try {
    appendFileSync(file, `${prefix}${line}\n`);
  } catch (error) {
    throw new CriuGdbError(`cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return true;
}

const options = [{ name: 'install', value: false, help: 'append the line to ~/.gdbinit (once; running again adds nothing)' }];

/** `criu-gdb gdbinit`: the line that makes every gdb load the plugin. */
export const gdbinitCommand: Command = {
  name: 'gdbinit',
  usage: 'gdbinit [--install]',
  summary: "print (or install in ~/.gdbinit) the line that loads the gdb plugin",
  options,
  help: () =>
    helpText(
      'criu-gdb gdbinit [--install]',
      wrapParagraphs("Prints the line that loads criu-gdb's plugin into gdb, for ~/.gdbinit. With --install, appends it\nto ~/.gdbinit ($HOME is honoured) unless it is already there. Then 'criu-load DIR' works in any gdb."),
      options,
    ),
  run(args) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument: ${args.positionals[0] ?? ''}`);
    if (!args.options.has('install')) return gdbinitLine();
    const file = gdbinitFile();
    return installGdbinit(file) ? `added to ${file}: ${gdbinitLine()}` : `${file} already loads the plugin`;
  },
};
