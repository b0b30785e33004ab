import type { Catalog } from '../source/catalog.js';
import { byteString } from '../source/metadata.js';
import { formatTable } from './format.js';

/** The catalog as a table, one line per checkpoint, then one line per problem. */
export function formatCatalog(catalog: Catalog): string {
  const rows = catalog.checkpoints.map((entry) => [
    entry.name ?? '-',
    entry.pod === null ? '-' : entry.namespace === null ? entry.pod : `${entry.namespace}/${entry.pod}`,
    entry.time,
    byteString(entry.size),
    entry.format,
    entry.problem === null ? entry.path : `${entry.path} (${entry.problem})`,
  ]);
  const lines: string[] = [];
  if (rows.length > 0) lines.push(formatTable(['CONTAINER', 'POD', 'TIME', 'SIZE', 'FORMAT', 'CHECKPOINT'], rows));
  else if (catalog.problems.length === 0) lines.push(`no checkpoints in ${catalog.directories.join(', ')}`);
  for (const problem of catalog.problems) lines.push(problem);
  return lines.join('\n');
}
