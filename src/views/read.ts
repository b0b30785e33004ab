import { UsageError } from '../errors.js';
import type { MemoryRead } from '../model/memory.js';
import { intOption, parseNumber } from './args.js';
import { hexAddress } from './format.js';
import { formatHexdump } from './hexdump.js';
import { defineView, jsonOption } from './view.js';

/** Most bytes the read command prints. */
const MAX_DUMP_BYTES = 16 * 1024 * 1024;

/**
 * The bytes as hex, two digits a byte, with `??` for each byte the checkpoint does not hold: a reader that
 * ignores `unavailable` then fails to decode rather than taking the gaps for zeros.
 */
function hexWithGaps(read: MemoryRead): string {
  const parts: string[] = [];
  let at = 0;
  for (const gap of read.unavailable) {
    const from = Math.max(at, Number(gap.start - read.address));
    const to = Math.min(read.data.length, Number(gap.end - read.address));
    if (to <= from) continue;
    parts.push(read.data.subarray(at, from).toString('hex'), '??'.repeat(to - from));
    at = to;
  }
  parts.push(read.data.subarray(at).toString('hex'));
  return parts.join('');
}

/** `read`: a hexdump of process memory, with unavailable bytes marked. */
export const readView = defineView({
  name: 'read',
  usage: 'read DIR [--pid N] ADDR LEN [--json]',
  helpUsage: 'read DIR [--pid N] ADDR LEN [--json] [--root PATH]',
  summary: 'hexdump of process memory, unavailable bytes marked',
  description:
    'Prints LEN bytes of memory at ADDR (decimal or 0x hex) as a hexdump. Bytes the checkpoint does\nnot hold show as ?? and each unavailable range is listed with its reason. With --json, "hex" has\ntwo hex digits per byte and ?? per byte the checkpoint does not hold.',
  options: [jsonOption, { name: 'pid', value: true, help: 'the process to read (default: the root of the tree)' }],
  operands: { max: 2 },
  inGdb: false,
  perProcess: false,
  collect(checkpoint, { operands, args }) {
    const [addressText, lengthText] = operands;
    if (addressText === undefined || lengthText === undefined) throw new UsageError('read needs ADDR and LEN');
    const address = parseNumber(addressText, 'ADDR');
    const length = parseNumber(lengthText, 'LEN');
    if (length > BigInt(MAX_DUMP_BYTES)) throw new UsageError(`LEN is limited to ${MAX_DUMP_BYTES} bytes`);
    const pid = intOption(args, 'pid');
    const process = pid === undefined ? checkpoint.rootProcess : checkpoint.process(pid);
    return { pid: process.pid, read: process.memory().read(address, Number(length)) };
  },
  json: ({ pid, read }) => ({
    pid,
    address: hexAddress(read.address),
    length: read.data.length,
    hex: hexWithGaps(read),
    unavailable: read.unavailable.map((r) => ({ start: hexAddress(r.start), end: hexAddress(r.end), reason: r.reason })),
  }),
  text: ({ read }) => formatHexdump(read),
});
