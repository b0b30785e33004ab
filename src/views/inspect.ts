import { byteString, type ContainerMount } from '../source/metadata.js';
import { CriuGdbError, UsageError } from '../errors.js';
import { isTolerable } from '../budget.js';
import type { Stats } from '../images/stats.js';
import type { Checkpoint } from '../model/checkpoint.js';
import type { ProcessModel } from '../model/process.js';
import type { FdModel } from '../model/types.js';
import { readDumpStats } from '../source/metadata.js';
import { intOption, type ParsedArgs } from './args.js';
import { treeOrder } from './ps.js';
import { showRecord, type ShowRecord } from './show.js';
import { defineView, jsonOption } from './view.js';
import { dumpedMounts } from '../model/mounts.js';

const options = [
  jsonOption,
  { name: 'ps-tree', value: false, help: 'the process tree' },
  { name: 'ps-tree-cmd', value: false, help: 'the process tree with each command line (read from memory)' },
  { name: 'ps-tree-env', value: false, help: 'the process tree with each environment (read from memory)' },
  { name: 'files', value: false, help: 'open files of each process (with the process tree)' },
  { name: 'sockets', value: false, help: 'open sockets of each process (with the process tree)' },
  { name: 'mounts', value: false, help: "the container's mounts (spec.dump), else the mounts CRIU dumped (mountpoints-N.img)" },
  { name: 'stats', value: false, help: "CRIU's dump statistics (stats-dump)" },
  { name: 'metadata', value: false, help: "the pod, namespace and the spec's annotations" },
  { name: 'all', value: false, help: 'everything above' },
  { name: 'pid', value: true, help: 'the process tree from this process down' },
];

/** One process of `inspect --json`'s tree. */
export interface InspectProcess {
  pid: number;
  command: string;
  state: string;
  cmdline?: string[] | null | undefined;
  environment?: string[] | null | undefined;
  files?: Array<{ fd: string; kind: string; path: string }> | undefined;
  sockets?: Array<{ fd: number; kind: string; protocol: string; state: string; local: string; remote: string }> | undefined;
  children: InspectProcess[];
}

/** What `inspect --json` prints. */
export interface InspectRecord extends ShowRecord {
  statistics?: Stats | null | undefined;
  processTree?: InspectProcess[] | undefined;
  mounts?: ContainerMount[] | undefined;
}

interface Wanted {
  tree: boolean;
  cmd: boolean;
  env: boolean;
  files: boolean;
  sockets: boolean;
  mounts: boolean;
  stats: boolean;
  metadata: boolean;
  pid: number | undefined;
}

function wanted(args: ParsedArgs): Wanted {
  const all = args.options.has('all');
  const flag = (name: string): boolean => all || args.options.has(name);
  const pid = intOption(args, 'pid');
  const w: Wanted = {
    cmd: flag('ps-tree-cmd'),
    env: flag('ps-tree-env'),
    files: flag('files'),
    sockets: flag('sockets'),
    mounts: flag('mounts'),
    stats: flag('stats'),
    metadata: flag('metadata'),
    tree: flag('ps-tree') || pid !== undefined,
    pid,
  };
  w.tree ||= w.cmd || w.env || w.files || w.sockets;
  return w;
}

const SOCKET_KINDS = new Set(['unix', 'inet', 'inet6', 'packet', 'netlink']);

function isSocket(fd: FdModel): boolean {
  return SOCKET_KINDS.has(fd.kind) || 'family' in fd.details;
}

function stateName(state: string): string {
  return state.charAt(0).toUpperCase() + state.slice(1);
}

function processTree(checkpoint: Checkpoint, w: Wanted): InspectProcess[] {
  const ordered = treeOrder(checkpoint);
  const nodes = new Map<number, InspectProcess>();
  const roots: InspectProcess[] = [];
  const build = (process: ProcessModel): InspectProcess => {
    const node: InspectProcess = { pid: process.pid, command: process.comm, state: process.state, children: [] };
    if (w.cmd) node.cmdline = checkpoint.tolerate(() => process.cmdline()) ?? null;
    if (w.env) node.environment = checkpoint.tolerate(() => process.environ()) ?? null;
    if (w.files || w.sockets) {
      const fds = checkpoint.tolerate(() => process.fds()) ?? [];
      if (w.files) {
        const dirs = checkpoint.tolerate(() => process.dirs()) ?? {};
        node.files = [
          ...(dirs.cwd !== undefined ? [{ fd: 'cwd', kind: 'dir', path: dirs.cwd }] : []),
          ...(dirs.root !== undefined ? [{ fd: 'root', kind: 'dir', path: dirs.root }] : []),
          ...fds.filter((fd) => !isSocket(fd)).map((fd) => ({ fd: String(fd.fd), kind: fd.kind, path: fd.name })),
        ];
      }
      if (w.sockets) {
        node.sockets = fds.filter(isSocket).map((fd) => ({
          fd: fd.fd,
          kind: fd.kind,
          protocol: [fd.details['family'], fd.details['proto']].filter((v) => v !== undefined && v !== '').map(String).join(' '),
          state: String(fd.details['state'] ?? ''),
          local: String(fd.details['local'] ?? ''),
          remote: String(fd.details['remote'] ?? ''),
        }));
      }
    }
    return node;
  };
  for (const { process } of ordered) nodes.set(process.pid, build(process));
  for (const { process, depth } of ordered) {
    const node = nodes.get(process.pid)!;
    const parent = depth > 0 ? nodes.get(process.ppid) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  if (w.pid !== undefined) {
    checkpoint.process(w.pid); // a clear error for an unknown pid
    return [nodes.get(w.pid)!];
  }
  return roots;
}

/** A tree printed with box-drawing branches, as checkpointctl prints it. */
interface TreeNode {
  text: string;
  children: TreeNode[];
}

function branch(text: string, children: TreeNode[] = []): TreeNode {
  return { text, children };
}

/** Levels of the tree drawn with branches; deeper ones keep the indentation of this level and show their depth. */
const MAX_DRAWN_DEPTH = 32;

/**
 * The tree as lines, with an explicit stack (a tree as deep as a chain of processes must not overflow the
 * call stack), and an indentation that stops growing at {@link MAX_DRAWN_DEPTH} levels.
 */
function renderTree(root: TreeNode): string {
  const lines = [root.text];
  const stack: Array<{ nodes: TreeNode[]; next: number; prefix: string; depth: number }> = [{ nodes: root.children, next: 0, prefix: '', depth: 1 }];
  while (stack.length > 0) {
    const level = stack[stack.length - 1]!;
    const node = level.nodes[level.next++];
    if (!node) {
      stack.pop();
      continue;
    }
    const last = level.next === level.nodes.length;
    const [first = '', ...rest] = node.text.split('\n');
    const depth = level.depth > MAX_DRAWN_DEPTH ? `(depth ${level.depth}) ` : '';
    lines.push(`${level.prefix}${last ? '└── ' : '├── '}${depth}${first}`);
    const inner = level.depth >= MAX_DRAWN_DEPTH ? level.prefix : `${level.prefix}${last ? '    ' : '│   '}`;
    for (const line of rest) lines.push(`${inner}${line}`);
    if (node.children.length > 0) stack.push({ nodes: node.children, next: 0, prefix: inner, depth: level.depth + 1 });
  }
  return lines.join('\n');
}

function microseconds(value: number | undefined): string {
  if (value === undefined) return '?';
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(3)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(3)} ms`;
  return `${value} us`;
}

/** The branches of process trees, children in order, without recursion. */
function processNodes(roots: readonly InspectProcess[]): TreeNode[] {
  const top: TreeNode[] = [];
  const pending = roots.map((process) => ({ process, into: top })).reverse();
  for (let item = pending.pop(); item; item = pending.pop()) {
    const node = processNode(item.process);
    item.into.push(node);
    for (let i = item.process.children.length - 1; i >= 0; i--) pending.push({ process: item.process.children[i]!, into: node.children });
  }
  return top;
}

/** One process's branch with its details, without its child processes. */
function processNode(process: InspectProcess): TreeNode {
  const tag = process.state === 'alive' ? `[${process.pid}]` : `[${process.pid} (${stateName(process.state)})]`;
  const name = process.cmdline && process.cmdline.length > 0 ? process.cmdline.join(' ') : process.command;
  const children: TreeNode[] = [];
  if (process.environment) children.push(branch('Environment variables', process.environment.map((e) => branch(e))));
  if (process.files && process.files.length > 0) children.push(branch('Open files', process.files.map((f) => branch(`[${f.kind.toUpperCase()} ${f.fd}]  ${f.path}`))));
  if (process.sockets && process.sockets.length > 0) {
    children.push(
      branch(
        'Open sockets',
        process.sockets.map((s) => branch(`[${s.fd} ${s.protocol || s.kind}${s.state ? ` (${s.state})` : ''}]  ${s.local || '@'}${s.remote ? ` -> ${s.remote}` : ''}`)),
      ),
    );
  }
  return branch(`${tag}  ${name}`, children);
}

function inspectText(record: InspectRecord, w: Wanted): string {
  const c = record.container;
  const top: TreeNode[] = [];
  const add = (label: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') top.push(branch(`${label}: ${value}`));
  };
  add('Image', c?.image);
  add('ID', c?.id);
  add('Runtime', c?.runtime);
  add('Created', c?.created);
  add('Checkpointed', c?.checkpointed);
  add('Engine', c?.engine);
  if (c && c.networks.length > 0) {
    top.push(
      branch(
        'Network Interfaces',
        c.networks.map((n) => branch(`${n.network} (${n.interface})`, [n.ip && branch(`IP: ${n.ip}`), n.mac && branch(`MAC: ${n.mac}`), n.gateway && branch(`Gateway: ${n.gateway}`)].filter((b): b is TreeNode => !!b))),
      ),
    );
  } else add('IP', c?.ip);
  const sizeChildren = [record.sizes.pages ? branch(`Memory pages size: ${byteString(record.sizes.pages)}`) : undefined, record.sizes.amdgpuPages ? branch(`AMD GPU memory pages size: ${byteString(record.sizes.amdgpuPages)}`) : undefined].filter((b): b is TreeNode => !!b);
  top.push(branch(`Checkpoint size: ${byteString(record.sizes.checkpoint)}`, sizeChildren));
  if (record.sizes.rootfsDiff) add('Root FS diff size', byteString(record.sizes.rootfsDiff));
  if (w.stats) {
    const d = record.statistics?.dump;
    top.push(
      d
        ? branch('CRIU dump statistics', [
            branch(`Freezing time: ${microseconds(d.freezingTime)}`),
            branch(`Frozen time: ${microseconds(d.frozenTime)}`),
            branch(`Memdump time: ${microseconds(d.memdumpTime)}`),
            branch(`Memwrite time: ${microseconds(d.memwriteTime)}`),
            branch(`Pages scanned: ${d.pagesScanned ?? '?'}`),
            branch(`Pages written: ${d.pagesWritten ?? '?'}`),
            ...(d.pagesSkippedParent ? [branch(`Pages skipped (in parent): ${d.pagesSkippedParent}`)] : []),
            ...(d.pagesLazy ? [branch(`Pages lazy: ${d.pagesLazy}`)] : []),
          ])
        : branch('CRIU dump statistics: none (no stats-dump)'),
    );
  }
  if (w.metadata && c) {
    const meta: TreeNode[] = [];
    if (c.pod) meta.push(branch(`Pod name: ${c.pod}`));
    if (c.namespace) meta.push(branch(`Kubernetes namespace: ${c.namespace}`));
    if (c.kubernetesContainer) meta.push(branch(`Container name: ${c.kubernetesContainer}`));
    const keys = Object.keys(c.annotations).sort();
    if (keys.length > 0) meta.push(branch('Annotations', keys.map((key) => branch(`${key}: ${c.annotations[key]}`))));
    top.push(branch('Metadata', meta));
  }
  if (record.processTree) top.push(branch('Process tree', processNodes(record.processTree)));
  if (w.mounts) {
    const mounts = record.mounts ?? [];
    top.push(branch('Overview of mounts', mounts.map((m) => branch(`Destination: ${m.destination}`, [branch(`Type: ${m.type}`), branch(`Source: ${m.source}`)]))));
  }
  const title = c?.name ?? (c ? 'Container' : 'Checkpoint');
  const warnings = record.warnings.map((line) => `warning: ${line}`);
  return [`Displaying container checkpoint tree view from ${record.path}`, '', renderTree(branch(title, top)), ...warnings].join('\n');
}

/** `inspect`: checkpointctl's inspect, on an archive or a directory. */
export const inspectView = defineView({
  name: 'inspect',
  usage: 'inspect ARCHIVE|DIR [--ps-tree] [--files] [--sockets] [--mounts] [--stats] [--json]',
  helpUsage: 'inspect ARCHIVE|DIR [--ps-tree|--ps-tree-cmd|--ps-tree-env] [--files] [--sockets] [--mounts] [--stats] [--metadata] [--all] [--pid N] [--json] [--root PATH]',
  summary: 'container, process tree, files, sockets, mounts and dump statistics',
  description: [
    'Shows a container checkpoint as checkpointctl inspect does: the container, then what the options',
    'ask for. --files and --sockets attach each process open files and sockets to the process tree;',
    '--mounts lists the mounts of spec.dump, or for a plain dump those of the mount namespace CRIU dumped',
    '(mountpoints-N.img, written when the tree has a mount namespace of its own); --stats reads stats-dump.',
    '--json prints all of it as JSON.',
  ].join('\n'),
  options,
  operands: { max: 0 },
  inGdb: false,
  perProcess: false,
  collect(checkpoint, { args }) {
    const w = wanted(args);
    if (w.pid !== undefined && w.pid < 1) throw new UsageError('--pid needs a positive number');
    const record: InspectRecord = showRecord(checkpoint);
    if (w.stats) {
      try {
        record.statistics = readDumpStats(checkpoint.source) ?? null;
      } catch (error) {
        if (!isTolerable(error)) throw error;
        record.statistics = null;
        record.warnings.push(error.message);
      }
    }
    if (w.tree) record.processTree = processTree(checkpoint, w);
    if (w.mounts) record.mounts = record.container?.mounts ?? dumpedMounts(checkpoint);
    return { record, wanted: w };
  },
  json: ({ record, wanted: w }) => (!w.metadata && record.container ? { ...record, container: { ...record.container, annotations: {} } } : record),
  text: ({ record, wanted: w }) => inspectText(record, w),
});
