import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Type } from 'protobufjs';
import { CriuGdbError } from '../errors.js';
import { packageRoot } from '../package.js';

/** Package name used by every .proto file in proto/. */
export const PROTO_PACKAGE = 'criu';

/** Name of the compiled schema that `npm run build` writes next to dist/src. */
const COMPILED_SCHEMA = 'schema.json';

let root: protobuf.Root | undefined;

/** The project directory (the one holding proto/). */
function projectDirectory(): string {
  const dir = packageRoot();
  if (!existsSync(join(dir, 'proto', 'pstree.proto'))) throw new CriuGdbError('cannot find the proto/ directory of criu-gdb');
  return dir;
}

function protoFiles(project: string): string[] {
  const dir = join(project, 'proto');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => join(dir, f));
}

/** Parses proto/*.proto (about 20 ms). */
function parseProtoFiles(project: string): protobuf.Root {
  const parsed = new protobuf.Root().loadSync(protoFiles(project), { keepCase: true });
  parsed.resolveAll();
  return parsed;
}

/** The compiled schema, if `npm run build` wrote one that is newer than every .proto file (about 5 ms). */
function loadCompiled(project: string): protobuf.Root | undefined {
  const compiled = join(project, 'dist', COMPILED_SCHEMA);
  if (!existsSync(compiled)) return undefined;
  const builtAt = statSync(compiled).mtimeMs;
  if (protoFiles(project).some((file) => statSync(file).mtimeMs > builtAt)) return undefined;
  const loaded = protobuf.Root.fromJSON(JSON.parse(readFileSync(compiled, 'utf8')) as protobuf.INamespace);
  loaded.resolveAll();
  return loaded;
}

/** The protobuf schema of every image: the compiled one when fresh, else parsed from proto/*.proto. */
export function schema(): protobuf.Root {
  if (!root) {
    const project = projectDirectory();
    root = loadCompiled(project) ?? parseProtoFiles(project);
  }
  return root;
}

/** Writes dist/schema.json from proto/*.proto; run by `npm run build`. */
export function compileSchema(): string {
  const project = projectDirectory();
  const target = join(project, 'dist', COMPILED_SCHEMA);
  writeFileSync(target, JSON.stringify(parseProtoFiles(project).toJSON()));
  return target;
}

/** Looks up a message type by its name in the `criu` package, e.g. `messageType('PstreeEntry')`. */
export function messageType(name: string): Type {
  return schema().lookupType(`${PROTO_PACKAGE}.${name}`);
}
