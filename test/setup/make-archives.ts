/**
 * Makes container checkpoint archives, in the layout Podman (`container checkpoint --export`) and
 * Kubernetes/CRI-O forensic checkpointing write, from the real dumps that make-checkpoints.ts made:
 *
 *   npx tsx test/setup/make-archives.ts
 *
 * For each subject, test/.work/archives/<name>/ gets:
 *   bundle/          config.dump, spec.dump (realistic annotations), network.status (Podman), stats-dump,
 *                    dump.log, checkpoint/ (the CRIU images), rootfs-diff.tar, deleted.files
 *   base-rootfs/     the container image's rootfs (a directory, for --root)
 *   <name>.tar, <name>.tar.gz, <name>.tar.zst   the bundle archived in Podman's member order
 *   expected.json    what show/inspect must report, and the container layout facts
 * The container layout: the base rootfs holds libc and the dynamic loader (copied from this machine) and
 * a wrong, same-sized copy of the program; rootfs-diff.tar holds the real program (so its file-backed pages
 * must come from the diff) and a symlink to it; deleted.files hides /opt/decoy.txt of the base rootfs.
 * Kept as is when the checkpoint and this script have not changed. Needs GNU tar, gzip and zstd.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHECKPOINTS_DIR, WORK_DIR, checkpointAvailability, loadTruth, rootProcess, type CheckpointName } from '../helpers/checkpoints.js';

const SCRIPT = fileURLToPath(import.meta.url);
export const ARCHIVES_DIR = join(WORK_DIR, 'archives');

/** What the tests expect of an archive; written as expected.json. */
export interface ArchiveExpectation {
  name: CheckpointName;
  engine: 'Podman' | 'CRI-O';
  id: string;
  containerName: string;
  image: string;
  runtime: string;
  created: string;
  checkpointed: string;
  pod?: string;
  namespace?: string;
  kubernetesContainer?: string;
  /** Path of the program inside the container, served from rootfs-diff.tar. */
  programPath: string;
  /** A symlink in rootfs-diff.tar to the program. */
  diffSymlink: string;
  /** A file of the base rootfs that deleted.files hides. */
  deletedPath: string;
  /** Paths (members, relative) of rootfs-diff.tar. */
  diffMembers: string[];
  mounts: Array<{ destination: string; type: string; source: string }>;
}

interface Subject {
  name: CheckpointName;
  engine: 'Podman' | 'CRI-O';
}

const SUBJECTS: readonly Subject[] = [
  { name: 'pie_callchain', engine: 'CRI-O' },
  { name: 'fork_tree', engine: 'Podman' },
];

function log(message: string): void {
  process.stdout.write(`make-archives: ${message}\n`);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function run(command: string, args: string[], cwd?: string): void {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The OCI spec as engines dump it: mounts and annotations (the parts checkpointctl reads). */
function spec(subject: Subject, expected: ArchiveExpectation): object {
  const mounts = expected.mounts.map((m) => ({ ...m, options: m.type === 'bind' ? ['rbind', 'ro'] : ['nosuid', 'noexec', 'nodev'] }));
  const annotations: Record<string, string> =
    subject.engine === 'CRI-O'
      ? {
          'io.container.manager': 'cri-o',
          'io.kubernetes.container.name': expected.kubernetesContainer!,
          'io.kubernetes.pod.name': expected.pod!,
          'io.kubernetes.pod.namespace': expected.namespace!,
          'io.kubernetes.pod.uid': '3f0c5a4e-7b1d-4c61-9a0e-5d2f8b6c1e90',
          'io.kubernetes.cri-o.ContainerID': expected.id,
          'io.kubernetes.cri-o.ContainerName': `k8s_${expected.kubernetesContainer}_${expected.pod}_${expected.namespace}_3f0c5a4e_0`,
          'io.kubernetes.cri-o.ContainerType': 'container',
          'io.kubernetes.cri-o.Created': expected.created,
          'io.kubernetes.cri-o.IP.0': '10.85.0.17',
          'io.kubernetes.cri-o.ImageName': expected.image,
          'io.kubernetes.cri-o.Labels': JSON.stringify({ 'io.kubernetes.container.name': expected.kubernetesContainer, 'io.kubernetes.pod.name': expected.pod, 'io.kubernetes.pod.namespace': expected.namespace }),
          'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: expected.kubernetesContainer }),
          'io.kubernetes.cri-o.SandboxName': `k8s_${expected.pod}_${expected.namespace}_3f0c5a4e_0`,
        }
      : {
          'io.container.manager': 'libpod',
          'io.podman.annotations.autoremove': 'FALSE',
          'io.podman.annotations.init': 'FALSE',
          'io.podman.annotations.privileged': 'FALSE',
          'org.opencontainers.image.stopSignal': '15',
        };
  return { ociVersion: '1.0.2-dev', process: { terminal: false, cwd: '/' }, root: { path: '/var/lib/containers/storage/overlay/merged' }, hostname: expected.containerName, mounts, annotations };
}

function makeSubject(subject: Subject): void {
  const source = join(CHECKPOINTS_DIR, subject.name);
  const truth = loadTruth(subject.name);
  const live = rootProcess(truth);
  const out = join(ARCHIVES_DIR, subject.name);
  const stampFile = join(out, 'stamp.json');
  const stamp = sha256([readFileSync(join(source, 'stamp.json')), readFileSync(SCRIPT)].join('\0'));
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').includes(stamp) && existsSync(join(out, `${subject.name}.tar.zst`))) return;
  rmSync(out, { recursive: true, force: true });
  const bundle = join(out, 'bundle');
  const base = join(out, 'base-rootfs');
  mkdirSync(bundle, { recursive: true });

  const program = live.exe;
  const programTruth = live.mappedFiles.find((f) => f.path === program);
  if (!programTruth) throw new Error(`${subject.name}: the truth has no mapped file ${program}`);
  if (sha256(readFileSync(program)) !== programTruth.sha256) throw new Error(`${program} changed since ${subject.name} was dumped: run make-checkpoints.ts again`);

  const id = sha256(`criu-gdb ${subject.name}`);
  const k8s = subject.engine === 'CRI-O';
  const expected: ArchiveExpectation = {
    name: subject.name,
    engine: subject.engine,
    id,
    containerName: k8s ? `k8s_${subject.name}_${subject.name}-pod_forensics_3f0c5a4e_0` : `${subject.name.replace(/_/g, '-')}-ctr`,
    image: `registry.example/criu-gdb/${subject.name}:1.0`,
    runtime: 'crun',
    created: '2026-03-13T21:42:59Z',
    checkpointed: '2026-03-13T21:43:06Z',
    programPath: program,
    diffSymlink: '/opt/app/current',
    deletedPath: '/opt/decoy.txt',
    diffMembers: [],
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/etc/hostname', type: 'bind', source: `/run/containers/storage/overlay-containers/${id}/userdata/hostname` },
    ],
  };
  if (k8s) {
    expected.pod = `${subject.name}-pod`;
    expected.namespace = 'forensics';
    expected.kubernetesContainer = subject.name;
  }

  // checkpoint/: the CRIU images; stats-dump and dump.log go to the top, where CRIU's work directory is.
  cpSync(join(source, truth.criu.imagesDir), join(bundle, 'checkpoint'), { recursive: true });
  for (const name of ['stats-dump', 'dump.log']) {
    const inImages = join(bundle, 'checkpoint', name);
    if (existsSync(inImages)) {
      copyFileSync(inImages, join(bundle, name));
      rmSync(inImages);
    }
  }
  const config: Record<string, unknown> = {
    id,
    name: k8s ? subject.name : expected.containerName,
    rootfsImage: expected.image,
    rootfsImageRef: sha256(expected.image),
    rootfsImageName: expected.image,
    runtime: expected.runtime,
    createdTime: '2026-03-13T21:42:59.05135916Z',
    checkpointedTime: '2026-03-13T21:43:06.123456789Z',
    restoredTime: '0001-01-01T00:00:00Z',
    restored: false,
  };
  writeFileSync(join(bundle, 'config.dump'), JSON.stringify(config, null, 2));
  writeFileSync(join(bundle, 'spec.dump'), JSON.stringify(spec(subject, expected), null, 2));
  if (!k8s) {
    writeFileSync(join(bundle, 'network.status'), JSON.stringify({ podman: { interfaces: { eth0: { subnets: [{ ipnet: '10.88.0.4/16', gateway: '10.88.0.1' }], mac_address: '2e:e1:db:6b:68:93' } } } }, null, 2));
  }

  // The container's root: libc and the loader from this machine; a wrong copy of the program (same size,
  // different bytes and build-id), which the diff must replace; a decoy that deleted.files hides.
  for (const file of live.mappedFiles) {
    if (file.path === program) continue;
    mkdirSync(join(base, dirname(file.path)), { recursive: true });
    copyFileSync(file.path, join(base, file.path));
    // Separate debug info, as an image with the debug package would have it.
    if (file.buildId) {
      const debug = `/usr/lib/debug/.build-id/${file.buildId.slice(0, 2)}/${file.buildId.slice(2)}.debug`;
      if (existsSync(debug)) {
        mkdirSync(join(base, dirname(debug)), { recursive: true });
        copyFileSync(debug, join(base, debug));
      }
    }
  }
  // The usual links of a merged-/usr image (the dynamic loader's link map names /lib/... and /lib64/...).
  for (const link of ['/lib', '/lib64', '/usr/lib64/ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2']) {
    if (existsSync(join(base, link))) continue;
    let target: string;
    try {
      target = readlinkSync(link);
    } catch {
      continue;
    }
    mkdirSync(join(base, dirname(link)), { recursive: true });
    symlinkSync(target, join(base, link));
  }
  mkdirSync(join(base, dirname(program)), { recursive: true });
  const wrong = Buffer.from(readFileSync(program));
  for (let i = 0x40; i < wrong.length; i += 7) wrong[i] = wrong[i]! ^ 0x5a;
  writeFileSync(join(base, program), wrong);
  chmodSync(join(base, program), 0o755);
  mkdirSync(join(base, 'opt'), { recursive: true });
  writeFileSync(join(base, expected.deletedPath), 'this file was deleted in the container\n');

  // rootfs-diff.tar: the real program at its path, and a symlink to it (as the engines write it: relative names).
  const stage = join(out, 'diff-stage');
  mkdirSync(join(stage, dirname(program)), { recursive: true });
  copyFileSync(program, join(stage, program));
  chmodSync(join(stage, program), 0o755);
  mkdirSync(join(stage, dirname(expected.diffSymlink)), { recursive: true });
  execFileSync('ln', ['-s', program, join(stage, expected.diffSymlink)]);
  expected.diffMembers = [program.slice(1), expected.diffSymlink.slice(1)];
  run('tar', ['-C', stage, '--format=pax', '-cf', join(bundle, 'rootfs-diff.tar'), ...expected.diffMembers]);
  rmSync(stage, { recursive: true, force: true });
  writeFileSync(join(bundle, 'deleted.files'), JSON.stringify([expected.deletedPath, '/var/cache/apt']));

  // Podman's member order: metadata first, then checkpoint/, then the rootfs changes.
  const order = ['config.dump', 'spec.dump', 'network.status', 'stats-dump', 'dump.log', 'checkpoint', 'rootfs-diff.tar', 'deleted.files'].filter((f) => existsSync(join(bundle, f)));
  const tarFile = join(out, `${subject.name}.tar`);
  run('tar', ['-C', bundle, '--format=posix', '--owner=0', '--group=0', '-cf', tarFile, ...order]);
  run('gzip', ['-k', '-6', '-f', tarFile]);
  run('zstd', ['-q', '-k', '-f', '-3', tarFile, '-o', `${tarFile}.zst`]);
  writeFileSync(join(out, 'expected.json'), `${JSON.stringify(expected, null, 1)}\n`);
  writeFileSync(stampFile, JSON.stringify({ stamp }));
  log(`${subject.name}: ${subject.engine} archives made (${(statSync(tarFile).size / 1024).toFixed(0)} KiB plain)`);
}

function main(): void {
  mkdirSync(ARCHIVES_DIR, { recursive: true });
  for (const subject of SUBJECTS) {
    const availability = checkpointAvailability(subject.name);
    if (!availability.available) {
      log(`${subject.name}: skipped: ${availability.reason}`);
      continue;
    }
    makeSubject(subject);
  }
}

// Tests import this module for ARCHIVES_DIR and the expectation type; only running it makes archives.
if (process.argv[1]?.endsWith('make-archives.ts')) main();
