import { UsageError } from '../../errors.js';
import { intOption, parseNumber } from '../args.js';
import { formatHexdump } from '../hexdump.js';
import { commonOptions, helpText, hexAddress, openFromArgs, toJson, type Command } from './command.js';

const options = [...commonOptions, { name: 'pid', value: true, help: 'the process to read (default: the root of the tree)' }];

/** Most bytes the read command prints. */
const MAX_DUMP_BYTES = 16 * 1024 * 1024;

/** `criu-gdb read`: a hexdump of process memory, with unavailable bytes marked. */
export const readCommand: Command = {
  name: 'read',
  usage: 'read DIR [--pid N] ADDR LEN [--json]',
  summary: 'hexdump of process memory, unavailable bytes marked',
  options,
  help: () =>
    helpText(
      'read DIR [--pid N] ADDR LEN [--json] [--root PATH]',
      'Prints LEN bytes of memory at ADDR (decimal or 0x hex) as a hexdump. Bytes the checkpoint does\nnot hold show as ?? and each unavailable range is listed with its reason.',
      options,
    ),
  run(args) {
    const [, addressText, lengthText] = args.positionals;
    if (addressText === undefined || lengthText === undefined) throw new UsageError('read needs ADDR and LEN');
    const address = parseNumber(addressText, 'ADDR');
    const length = parseNumber(lengthText, 'LEN');
    if (length > BigInt(MAX_DUMP_BYTES)) throw new UsageError(`LEN is limited to ${MAX_DUMP_BYTES} bytes`);
    const checkpoint = openFromArgs(args, 2);
    try {
      const pid = intOption(args, 'pid');
      const process = pid === undefined ? checkpoint.rootProcess : checkpoint.process(pid);
      const read = process.memory().read(address, Number(length));
      if (args.options.has('json')) {
        return toJson({
          pid: process.pid,
          address: hexAddress(address),
          length: Number(length),
          hex: read.data.toString('hex'),
          unavailable: read.unavailable.map((r) => ({ start: hexAddress(r.start), end: hexAddress(r.end), reason: r.reason })),
        });
      }
      return formatHexdump(read);
    } finally {
      checkpoint.close();
    }
  },
};
