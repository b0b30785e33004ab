import type { OptionSpec } from '../../views/args.js';
import { KUBELET_CHECKPOINTS, renderList } from '../../views/list.js';
import { helpText, jsonOption } from '../../views/view.js';
import type { Command } from './command.js';

const options: readonly OptionSpec[] = [jsonOption];

/** `criu-gdb list`: the checkpoints stored in directories. */
export const listCommand: Command = {
  name: 'list',
  usage: 'list [DIR...] [--json]',
  summary: "the checkpoints stored in directories (default: kubelet's)",
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
    return renderList(args.positionals, args.options.has('json'));
  },
};
