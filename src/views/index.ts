/** Every view, in the order the help lists them, and the ones offered inside gdb. */
import { UsageError } from '../errors.js';
import { diffView } from './diff.js';
import { fdsView } from './fds.js';
import { infoView } from './info.js';
import { inspectView } from './inspect.js';
import { mapsView } from './maps.js';
import { memoryView } from './memory.js';
import { psView } from './ps.js';
import { readView } from './read.js';
import { searchView } from './search.js';
import { showView } from './show.js';
import type { View } from './view.js';

/** Every view of a checkpoint. */
export const views: readonly View[] = [infoView, psView, mapsView, fdsView, readView, searchView, showView, inspectView, memoryView, diffView];

/** The views gdb offers as `criu NAME`. */
export const gdbViews: readonly View[] = views.filter((view) => view.inGdb);

/** The view called `name` among `list`, or a usage error. */
export function findView(name: string, list: readonly View[] = views): View {
  const view = list.find((v) => v.name === name);
  if (!view) throw new UsageError(`unknown command '${name}'`);
  return view;
}
