/**
 * Which modules a node program loads: node arguments that make it append the URL of every ES module it
 * loads to a file (a module-load hook, node's own loader API), and the src-relative names of criu-gdb's
 * modules read back from that file.
 */
import { readFileSync } from 'node:fs';

const DIST_SRC = '/dist/src/';

/** node arguments (before the script) that append the URL of every ES module loaded, one a line, to `log`. */
export function moduleLogArgs(log: string): string[] {
  const hooks = `import { appendFileSync } from 'node:fs'; export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }`;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  return ['--import', `data:text/javascript,${encodeURIComponent(register)}`];
}

/** The compiled criu-gdb modules `log` lists, relative to dist/src/ (e.g. `views/index.js`), in load order. */
export function loadedModules(log: string): string[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((url) => url.includes(DIST_SRC))
    .map((url) => url.slice(url.indexOf(DIST_SRC) + DIST_SRC.length));
}
