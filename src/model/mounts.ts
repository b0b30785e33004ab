/**
 * A checkpoint's mounts in one form: a container's `spec.dump` when it has one, else the mount images
 * CRIU wrote for the root process's mount namespace (mountpoints-N.img).
 */
import { readContainerInfo, type ContainerMount } from '../source/metadata.js';
import type { Checkpoint } from './checkpoint.js';

/** The mounts CRIU dumped for the root process's mount namespace, in the form of spec.dump's; none without. */
export function dumpedMounts(checkpoint: Checkpoint): ContainerMount[] {
  const mounts = checkpoint.rootProcess.mounts() ?? [];
  return mounts.map((m) => ({ destination: m.mountpoint, type: m.type, source: m.source, options: m.options === '' ? [] : m.options.split(',') }));
}

/** The container's mounts (spec.dump), else the dumped ones; null when the checkpoint records neither. */
export function checkpointMounts(checkpoint: Checkpoint): ContainerMount[] | null {
  if (checkpoint.source.readFile('spec.dump')) {
    const info = checkpoint.tolerate(() => readContainerInfo(checkpoint.source));
    if (info) return info.mounts;
  }
  const dumped = checkpoint.tolerate(() => checkpoint.rootProcess.mounts());
  return dumped === undefined ? null : dumpedMounts(checkpoint);
}
