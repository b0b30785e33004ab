import { CheckpointError } from '../../errors.js';
import { catalog, KUBELET_CHECKPOINTS } from '../../source/catalog.js';
import type { OptionSpec } from '../../views/args.js';
import { escapeControls, toJson } from '../../views/format.js';
import { formatCatalog } from '../../views/list.js';
import { helpText, jsonOption } from '../../views/view.js';
import type { Command } from './command.js';

const options: readonly OptionSpec[] = [jsonOption];

/** `criu-gdb list`: the checkpoints stored in directories. */
export const listCommand: Command = {
  name: 'list',
  usage: 'list [DIR...] [--json]',
  summary: `the checkpoints stored in directories (default ${KUBELET_CHECKPOINTS})`,
  options,
  help: () =>
    helpText(
      'criu-gdb list [DIR...] [--json]',
      [
        'Lists the checkpoint archives (.tar, .tar.gz, .tar.zst) and checkpoint directories found in each',
        `DIR (default ${KUBELET_CHECKPOINTS}, where Kubernetes writes them), one line each: container,`,
        'pod (namespace/pod), when it was checkpointed (from its metadata, else the file time), size on',
        'disk, format and path, oldest first. Only the metadata is read, never the memory pages.',
      ].join('\n'),
      options,
    ),
  run(args) {
    const directories = args.positionals.length > 0 ? args.positionals : [KUBELET_CHECKPOINTS];
    const found = catalog(directories);
    if (found.checkpoints.length === 0 && found.problems.length === directories.length) {
      const defaulted = args.positionals.length === 0 ? ' (the default; name the directories to list: criu-gdb list DIR...)' : '';
      throw new CheckpointError(`${found.problems.join('; ')}${defaulted}`);
    }
    if (args.options.has('json')) return toJson(found);
    return escapeControls(formatCatalog(found), '\n');
  },
};
