/**
 * A container's changes to its image, as container checkpoints carry them: `rootfs-diff.tar` (files added or
 * modified, laid over the image's rootfs) and `deleted.files` (a JSON list of paths removed from it).
 * The diff tar is indexed, never unpacked: its members are read in place (see {@link DiffLayer.data}).
 */
import type { MemberData } from '../archive/archive.js';
import type { TarMember } from '../archive/tar.js';
import { CriuGdbError } from '../errors.js';

/** Where a diff member's bytes are; provided by the archive or the directory that holds rootfs-diff.tar. */
export type DiffData = (member: TarMember) => MemberData;

/** Most hard-link hops followed inside the diff tar. */
const MAX_HARDLINKS = 16;

/** rootfs-diff.tar and deleted.files of a container checkpoint. */
export class DiffLayer {
  private readonly byName = new Map<string, TarMember>();
  private readonly directories = new Set<string>();
  private readonly deleted: Set<string>;

  constructor(
    /** Names rootfs-diff.tar in messages, e.g. `dump.tar:rootfs-diff.tar`. */
    readonly label: string,
    members: readonly TarMember[],
    private readonly read: DiffData | undefined,
    /** Paths from deleted.files (absolute, as the container saw them). */
    deletedPaths: readonly string[],
  ) {
    for (const member of members) {
      if (member.name === '') continue;
      this.byName.set(member.name, member);
      const parts = member.name.split('/');
      for (let i = 1; i < parts.length; i++) this.directories.add(parts.slice(0, i).join('/'));
    }
    this.deleted = new Set(
      deletedPaths
        .map((path) => path.split('/').filter((part) => part !== '' && part !== '.'))
        .filter((parts) => parts.length > 0 && !parts.includes('..'))
        .map((parts) => parts.join('/')),
    );
  }

  /** Number of members of the diff tar. */
  get size(): number {
    return this.byName.size;
  }

  /**
   * The diff's entry at `name` (relative, normalized): a member (hard links resolved to the member they
   * name), `dir` for a directory implied by deeper members, or undefined.
   */
  entry(name: string): TarMember | 'dir' | undefined {
    let member = this.byName.get(name);
    for (let hops = 0; member && member.type === 'hardlink'; hops++) {
      if (hops >= MAX_HARDLINKS) throw new CriuGdbError(`${this.label}: ${name}: too many hard links`);
      member = this.byName.get(member.linkName);
    }
    if (member) return member;
    return this.directories.has(name) ? 'dir' : undefined;
  }

  /** Whether deleted.files removed `name` or a directory above it from the image. */
  hides(name: string): boolean {
    if (this.deleted.size === 0) return false;
    const parts = name.split('/');
    for (let i = 1; i <= parts.length; i++) if (this.deleted.has(parts.slice(0, i).join('/'))) return true;
    return false;
  }

  /** Where the bytes of regular member `member` are. */
  data(member: TarMember): MemberData {
    if (!this.read) throw new CriuGdbError(`${this.label}: ${member.name}: the diff's contents cannot be read`);
    return this.read(member);
  }
}

/** Parses deleted.files: a JSON array of paths. */
export function parseDeletedFiles(text: string, label: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CriuGdbError(`${label}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!Array.isArray(parsed) || !parsed.every((item): item is string => typeof item === 'string')) {
    throw new CriuGdbError(`${label}: not a JSON array of paths`);
  }
  return parsed;
}
