/** inventory.img: facts about the dump as a whole (format version, root task's ids, LSM, plugins...). */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { bool, num, optBool, optNum, optStr, optU64, strs, sub } from './fields.js';
import { readSingleEntry } from './framing.js';
import { decodeTaskKobjIds, type TaskKobjIds } from './ids.js';
import { Magic } from './magic.js';

/** Linux security module the dump was made under. */
export type LsmType = 'none' | 'selinux' | 'apparmor' | `unknown(${number})`;

/** How network traffic was locked during the dump. */
export type NetworkLockMethod = 'iptables' | 'nftables' | 'skip' | `unknown(${number})`;

/** How pre-dumps copied memory. */
export type PreDumpMode = 'splice' | 'read' | `unknown(${number})`;

/** Decoded inventory.img. */
export interface Inventory {
  /** 1: images without the common magic header; 2: every image but the inventory has it. */
  imageVersion: number;
  fdinfoPerId: boolean;
  nsPerId: boolean;
  /** Kernel-object ids of the root task. */
  rootIds?: TaskKobjIds;
  rootCgSet?: number;
  lsm: LsmType;
  /** System uptime at dump time, in microseconds. */
  dumpUptime?: bigint;
  preDumpMode?: PreDumpMode;
  tcpClose?: boolean;
  /** Absent in old dumps, which always used iptables. */
  networkLockMethod?: NetworkLockMethod;
  /** Plugins that took part in the dump. Empty also when not recorded (see {@link pluginsRecorded}). */
  plugins: string[];
  /** False for dumps made before CRIU recorded the plugin list (they mean "all plugins"). */
  pluginsRecorded: boolean;
  criuRunId?: string;
  allowUprobes?: boolean;
}

const LSM_NAMES: Record<number, LsmType> = { 0: 'none', 1: 'selinux', 2: 'apparmor' };
const LOCK_NAMES: Record<number, NetworkLockMethod> = { 0: 'iptables', 1: 'nftables', 2: 'skip' };
const PRE_DUMP_NAMES: Record<number, PreDumpMode> = { 1: 'splice', 2: 'read' };

/** Reads inventory.img, which every dump has. Fails on an image version CRIU itself would refuse. */
export function readInventory(dir: ImageDirectory): Inventory {
  const name = 'inventory.img';
  const { message, offset } = readSingleEntry(dir, name, Magic.inventory, 'InventoryEntry');
  const imageVersion = num(message, 'img_version');
  if (imageVersion !== 1 && imageVersion !== 2) {
    throw new ImageError('bad-value', dir.labelPrefix + name, offset, `image format version ${imageVersion} is not supported (expected 1 or 2)`);
  }
  const rootIds = sub(message, 'root_ids');
  const lsm = num(message, 'lsmtype');
  const lock = optNum(message, 'network_lock_method');
  const preDump = optNum(message, 'pre_dump_mode');
  const plugins = sub(message, 'plugins_entry');
  const inventory: Inventory = {
    imageVersion,
    fdinfoPerId: bool(message, 'fdinfo_per_id'),
    nsPerId: bool(message, 'ns_per_id'),
    lsm: LSM_NAMES[lsm] ?? `unknown(${lsm})`,
    plugins: plugins ? strs(plugins, 'plugins') : [],
    pluginsRecorded: plugins !== undefined,
  };
  if (rootIds) inventory.rootIds = decodeTaskKobjIds(rootIds);
  const rootCgSet = optNum(message, 'root_cg_set');
  if (rootCgSet !== undefined) inventory.rootCgSet = rootCgSet;
  const uptime = optU64(message, 'dump_uptime');
  if (uptime !== undefined) inventory.dumpUptime = uptime;
  if (preDump !== undefined) inventory.preDumpMode = PRE_DUMP_NAMES[preDump] ?? `unknown(${preDump})`;
  const tcpClose = optBool(message, 'tcp_close');
  if (tcpClose !== undefined) inventory.tcpClose = tcpClose;
  if (lock !== undefined) inventory.networkLockMethod = LOCK_NAMES[lock] ?? `unknown(${lock})`;
  const runId = optStr(message, 'dump_criu_run_id');
  if (runId !== undefined) inventory.criuRunId = runId;
  const uprobes = optBool(message, 'allow_uprobes');
  if (uprobes !== undefined) inventory.allowUprobes = uprobes;
  return inventory;
}
