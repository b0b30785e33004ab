/**
 * Where criu-gdb itself is installed: the directory of its package.json, found by walking up from this
 * module (the same from src/ under tsx and from dist/src/ once built), and what that file says.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriuGdbError } from './errors.js';

const PACKAGE_NAME = 'criu-gdb';

interface PackageJson {
  dir: string;
  version: string;
}

let found: PackageJson | undefined;

function readPackageJson(dir: string): PackageJson | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('name' in parsed) || parsed.name !== PACKAGE_NAME) return undefined;
    return { dir, version: 'version' in parsed && typeof parsed.version === 'string' ? parsed.version : 'unknown' };
  } catch {
    return undefined;
  }
}

function findPackage(): PackageJson {
  if (found) return found;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    found = readPackageJson(dir);
    if (found) return found;
    if (dirname(dir) === dir) throw new CriuGdbError(`cannot find the ${PACKAGE_NAME} package.json above ${start}`);
  }
}

/** The criu-gdb package directory (holding package.json, proto/, gdb-plugin/ and dist/). */
export function packageRoot(): string {
  return findPackage().dir;
}

/** criu-gdb's version, or 'unknown' when package.json cannot be found. */
export function packageVersion(): string {
  try {
    return findPackage().version;
  } catch {
    return 'unknown';
  }
}
