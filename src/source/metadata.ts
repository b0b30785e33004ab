/**
 * What a container checkpoint says about its container, read the way checkpointctl reads it:
 * config.dump (Podman's and CRI-O's ContainerConfig), spec.dump (the OCI runtime spec, whose annotations
 * name the engine, the pod and the Kubernetes namespace) and network.status (Podman).
 */
import { CriuGdbError } from '../errors.js';
import { isTolerable } from '../budget.js';
import { decodeStats, type Stats } from '../images/stats.js';
import { ArchiveFiles } from '../archive/archive.js';
import type { CheckpointSource } from './container.js';

/** One mount of the container, from spec.dump. */
export interface ContainerMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** One network interface, from network.status (Podman). */
export interface ContainerNetwork {
  network: string;
  interface: string;
  ip?: string | undefined;
  mac?: string | undefined;
  gateway?: string | undefined;
}

/** The container of a checkpoint. Fields the checkpoint does not record are undefined. */
export interface ContainerInfo {
  /** `Podman`, `CRI-O` or `containerd`, as checkpointctl names them. */
  engine: string;
  id?: string | undefined;
  /** The container's name: Podman's name; for Kubernetes, the container name in the pod. */
  name?: string | undefined;
  /** The image name (config.dump rootfsImageName). */
  image?: string | undefined;
  /** The image reference or id (config.dump rootfsImageRef). */
  imageRef?: string | undefined;
  /** The OCI runtime (crun, runc, ...). */
  runtime?: string | undefined;
  /** When the container was created (RFC 3339, as checkpointctl prints it). */
  created?: string | undefined;
  /** When it was checkpointed (RFC 3339). */
  checkpointed?: string | undefined;
  /** Kubernetes pod name, namespace and container name (from the annotations). */
  pod?: string | undefined;
  namespace?: string | undefined;
  kubernetesContainer?: string | undefined;
  ip?: string | undefined;
  networks: ContainerNetwork[];
  mounts: ContainerMount[];
  annotations: Record<string, string>;
  /** Problems reading the metadata files, one line each. */
  problems: string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A time as Go's time.Format(time.RFC3339) prints it: seconds precision, the recorded offset kept.
 * Undefined for Go's zero time and for anything that is not a time.
 */
export function rfc3339(value: unknown): string | undefined {
  const raw = text(value);
  if (!raw) return undefined;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(raw);
  if (!match) return raw;
  if (match[1]!.startsWith('0001-01-01T00:00:00')) return undefined;
  return `${match[1]}${match[2]}`;
}

function readJson(source: CheckpointSource, name: string, problems: string[]): unknown {
  let data: Buffer | undefined;
  try {
    data = source.readFile(name);
  } catch (error) {
    if (!isTolerable(error)) throw error;
    problems.push(error.message);
    return undefined;
  }
  if (!data) return undefined;
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch (error) {
    problems.push(`${name}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
}

function networks(status: unknown): ContainerNetwork[] {
  if (!isObject(status)) return [];
  const out: ContainerNetwork[] = [];
  for (const name of Object.keys(status).sort()) {
    const network = status[name];
    if (!isObject(network) || !isObject(network['interfaces'])) continue;
    const interfaces = network['interfaces'];
    for (const ifName of Object.keys(interfaces).sort()) {
      const iface = interfaces[ifName];
      if (!isObject(iface)) continue;
      const entry: ContainerNetwork = { network: name, interface: ifName, mac: text(iface['mac_address']) };
      const subnets = Array.isArray(iface['subnets']) ? iface['subnets'] : [];
      for (const subnet of subnets) {
        if (!isObject(subnet)) continue;
        entry.ip = text(subnet['ipnet']) ?? entry.ip;
        entry.gateway = text(subnet['gateway']) ?? entry.gateway;
      }
      out.push(entry);
    }
  }
  return out;
}

function mounts(spec: Json): ContainerMount[] {
  const list = Array.isArray(spec['mounts']) ? spec['mounts'] : [];
  return list.filter(isObject).map((mount) => ({
    destination: text(mount['destination']) ?? '',
    type: text(mount['type']) ?? '',
    source: text(mount['source']) ?? '',
    options: Array.isArray(mount['options']) ? mount['options'].filter((o): o is string => typeof o === 'string') : [],
  }));
}

/** The container's metadata, or undefined when the checkpoint has neither config.dump nor spec.dump. */
export function readContainerInfo(source: CheckpointSource): ContainerInfo | undefined {
  const problems: string[] = [];
  const configRaw = readJson(source, ArchiveFiles.config, problems);
  const specRaw = readJson(source, ArchiveFiles.spec, problems);
  if (configRaw === undefined && specRaw === undefined && problems.length === 0) return undefined;
  const config = isObject(configRaw) ? configRaw : {};
  const spec = isObject(specRaw) ? specRaw : {};
  const annotations: Record<string, string> = {};
  if (isObject(spec['annotations'])) {
    for (const [key, value] of Object.entries(spec['annotations'])) if (typeof value === 'string') annotations[key] = value;
  }
  const info: ContainerInfo = {
    engine: 'containerd',
    id: text(config['id']),
    image: text(config['rootfsImageName']),
    imageRef: text(config['rootfsImageRef']) ?? text(config['rootfsImage']),
    runtime: text(config['runtime']),
    created: rfc3339(config['createdTime']),
    checkpointed: rfc3339(config['checkpointedTime']),
    networks: [],
    mounts: mounts(spec),
    annotations,
    problems,
  };
  // The engine and the names, as checkpointctl tells them apart: by the io.container.manager annotation.
  switch (annotations['io.container.manager']) {
    case 'libpod':
      info.engine = 'Podman';
      info.name = text(config['name']);
      info.networks = networks(readJson(source, ArchiveFiles.networkStatus, problems));
      info.ip = info.networks.map((n) => n.ip?.replace(/\/.*$/, '')).filter((ip): ip is string => !!ip).join(', ') || undefined;
      info.pod = text(annotations['io.podman.annotations.pod.name']);
      break;
    case 'cri-o': {
      info.engine = 'CRI-O';
      let metadataName: string | undefined;
      const metadata = annotations['io.kubernetes.cri-o.Metadata'];
      if (metadata !== undefined) {
        try {
          const parsed: unknown = JSON.parse(metadata);
          if (isObject(parsed)) metadataName = text(parsed['name']);
        } catch {
          problems.push(`${ArchiveFiles.spec}: annotation io.kubernetes.cri-o.Metadata is not JSON`);
        }
      }
      info.name = metadataName ?? text(annotations['io.kubernetes.container.name']);
      info.created = text(annotations['io.kubernetes.cri-o.Created']) ?? info.created;
      info.ip = text(annotations['io.kubernetes.cri-o.IP.0']);
      info.namespace = text(annotations['io.kubernetes.pod.namespace']);
      info.pod = text(annotations['io.kubernetes.pod.name']);
      info.kubernetesContainer = text(annotations['io.kubernetes.container.name']) ?? metadataName;
      break;
    }
    default:
      info.name = text(annotations['io.kubernetes.cri.container-name']) ?? text(config['name']);
      info.namespace = text(annotations['io.kubernetes.cri.sandbox-namespace']);
      info.pod = text(annotations['io.kubernetes.cri.sandbox-name']);
      info.kubernetesContainer = text(annotations['io.kubernetes.cri.container-name']);
  }
  return info;
}

/** A byte count as checkpointctl prints it: `512 B`, `130.8 KiB`, `1.5 GiB`. */
export function byteString(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let div = 1024;
  let exp = 0;
  for (let n = Math.floor(bytes / 1024); n >= 1024; n = Math.floor(n / 1024)) {
    div *= 1024;
    exp++;
  }
  return `${(bytes / div).toFixed(1)} ${'KMGTPE'[exp]}iB`;
}

/**
 * CRIU's dump statistics (stats-dump), from the top of a container checkpoint, where CRIU's work directory
 * was, else from the images. Undefined when the checkpoint has none.
 */
export function readDumpStats(source: CheckpointSource): Stats | undefined {
  const top = source.isContainer ? source.readFile(ArchiveFiles.statsDump) : undefined;
  if (top) return decodeStats(top, ArchiveFiles.statsDump);
  const inImages = source.dir.tryOpen(ArchiveFiles.statsDump);
  if (!inImages) return undefined;
  return decodeStats(inImages.readExact(0, inImages.size), inImages.label);
}
