import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Type } from 'protobufjs';
import { CriuGdbError } from '../errors.js';

/** Package name used by every .proto file in proto/. */
export const PROTO_PACKAGE = 'criu';

let root: protobuf.Root | undefined;

/** Finds proto/ by walking up from this module (works from src/ under tsx and from dist/src after a build). */
function protoDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'pstree.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new CriuGdbError('cannot find the proto/ directory of criu-gdb');
}

/** The protobuf schema of every image, parsed once from proto/*.proto. */
export function schema(): protobuf.Root {
  if (!root) {
    const dir = protoDirectory();
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.proto'))
      .sort()
      .map((f) => join(dir, f));
    root = new protobuf.Root().loadSync(files, { keepCase: true });
    root.resolveAll();
  }
  return root;
}

/** Looks up a message type by its name in the `criu` package, e.g. `messageType('PstreeEntry')`. */
export function messageType(name: string): Type {
  return schema().lookupType(`${PROTO_PACKAGE}.${name}`);
}
