/**
 * The import graph of src/ follows the one-way data flow of the README: images → model → views → the
 * callers (cli, rpc, rsp, export). Every import statement of src/**\/*.ts is read with the TypeScript parser
 * (static imports, re-exports, `import type` and dynamic `import()` alike; a dynamic import must name its
 * module literally). A folder may import only the folders listed for it below, and no two folders, and no
 * two files, may import each other in a loop. There is no allowance for a back-edge.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/checkpoints.js';

const SRC = join(REPO_ROOT, 'src');
/** The files at the top of src/ (errors.ts, package.ts) form the folder '.'. */
const TOP = '.';

/** What each folder may import, lowest layer first. Its own folder and '.' are always allowed. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  [TOP]: [],
  archive: [],
  rootfs: ['archive'],
  images: ['archive'],
  source: ['archive', 'rootfs', 'images'],
  arch: ['images'],
  model: ['rootfs', 'images', 'source', 'arch'],
  views: ['images', 'source', 'model'],
  rsp: ['images', 'arch', 'model'],
  export: ['images', 'arch', 'model'],
  rpc: ['model', 'views', 'rsp', 'export'],
  cli: ['model', 'views', 'export'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Dynamic imports whose module is not a string literal (the checker cannot follow them), as `file: text`. */
const computedImports: string[] = [];

/** Module specifiers of every import, re-export and dynamic import of a file. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) found.push(argument.text);
      else computedImports.push(`${relative(SRC, file)}: ${node.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** src-relative path of the .ts file a relative specifier names. */
function target(file: string, specifier: string): string {
  return relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
}

function folderOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? TOP : path.slice(0, slash);
}

/** Every edge file → file inside src/. */
function fileGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const edges = new Set<string>();
    for (const specifier of importsOf(file)) if (specifier.startsWith('.')) edges.add(target(file, specifier));
    graph.set(from, edges);
  }
  return graph;
}

/** The strongly connected components with more than one node (or a self-loop): every cycle's members. */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) connect(node);
  return found;
}

describe('the import graph of src/', () => {
  const graph = fileGraph();

  it('reads every file and resolves every relative import to a file of src/', () => {
    expect(graph.size).toBeGreaterThan(50);
    const dangling = [...graph].flatMap(([from, edges]) => [...edges].filter((to) => !graph.has(to)).map((to) => `${from} -> ${to}`));
    expect(dangling).toEqual([]);
  });

  it('counts a dynamic import (a module loaded on first use) as an import, and every one names its module literally', () => {
    // The helper loads the views on its first `run`: still an edge of the graph, checked like any other.
    expect(graph.get('rpc/session.ts')).toContain('views/index.ts');
    expect(computedImports).toEqual([]);
  });

  it('puts every file in a folder of the layer table', () => {
    const unknown = [...new Set([...graph.keys()].map(folderOf))].filter((folder) => !(folder in ALLOWED));
    expect(unknown).toEqual([]);
  });

  it('has only imports the layer table allows', () => {
    const forbidden: string[] = [];
    for (const [from, edges] of graph) {
      const folder = folderOf(from);
      const allowed = new Set([folder, TOP, ...(ALLOWED[folder] ?? [])]);
      for (const to of edges) if (!allowed.has(folderOf(to))) forbidden.push(`${from} -> ${to}`);
    }
    expect(forbidden).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const folders = new Map<string, Set<string>>();
    for (const [from, edges] of graph) {
      const set = folders.get(folderOf(from)) ?? new Set<string>();
      for (const to of edges) if (folderOf(to) !== folderOf(from)) set.add(folderOf(to));
      folders.set(folderOf(from), set);
    }
    expect(cycles(folders)).toEqual([]);
  });

  it('has no cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('the layer table itself has no cycle', () => {
    const table = new Map(Object.entries(ALLOWED).map(([folder, allowed]) => [folder, new Set(allowed)]));
    expect(cycles(table)).toEqual([]);
  });

  it('finds a cycle when there is one (the checker can fail)', () => {
    const loop = new Map([
      ['a.ts', new Set(['b.ts'])],
      ['b.ts', new Set(['c.ts'])],
      ['c.ts', new Set(['a.ts'])],
      ['d.ts', new Set(['a.ts'])],
    ]);
    expect(cycles(loop)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});
