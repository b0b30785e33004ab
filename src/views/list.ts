import { CheckpointError } from '../errors.js';
import { catalog, KUBELET_CHECKPOINTS, type Catalog } from '../source/catalog.js';
import { byteString } from '../source/metadata.js';
import { escapeControls, formatTable, toJson } from './format.js';

export { KUBELET_CHECKPOINTS };

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

/**
 * `list`: the checkpoints in `directories` (default {@link KUBELET_CHECKPOINTS}) as text or JSON. Throws a
 * CheckpointError when no directory can be read.
 */
export function renderList(directories: readonly string[], json: boolean): string {
  const wanted = directories.length > 0 ? directories : [KUBELET_CHECKPOINTS];
  const found = catalog(wanted);
  if (found.checkpoints.length === 0 && found.problems.length === wanted.length) {
    const defaulted = directories.length === 0 ? ' (the default; name the directories to list: criu-gdb list DIR...)' : '';
    throw new CheckpointError(`${found.problems.join('; ')}${defaulted}`);
  }
  return json ? toJson(found) : escapeControls(formatCatalog(found), '\n');
}
