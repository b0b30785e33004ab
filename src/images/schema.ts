/**
 * The images' protobuf schema as a table of message layouts, for {@link decodeMessage}.
 *
 * `npm run build` compiles proto/*.proto into dist/schema.json once; at run time only that JSON is read, so
 * the helper neither loads protobufjs nor generates code (which cost about 100 ms of every start-up). When
 * the compiled file is missing or older than a .proto file (a source checkout), the .proto files are parsed.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { INamespace, Root } from 'protobufjs';
import { CriuGdbError } from '../errors.js';
import { packageRoot } from '../package.js';

/** Package name used by every .proto file in proto/. */
export const PROTO_PACKAGE = 'criu';

/** Name of the compiled schema that `npm run build` writes next to dist/src. */
const COMPILED_SCHEMA = 'schema.json';

/** How a field's value is read from the wire. */
export type ScalarType =
  | 'int32' | 'uint32' | 'sint32' | 'bool' | 'enum'
  | 'int64' | 'uint64' | 'sint64'
  | 'fixed32' | 'sfixed32' | 'float' | 'fixed64' | 'sfixed64' | 'double'
  | 'string' | 'bytes';

/** What an absent repeated field reads as (shared and frozen: the decoder gives a message its own array). */
export const NO_VALUES: readonly unknown[] = Object.freeze([]);

/** One field of a message layout. */
export interface FieldLayout {
  readonly name: string;
  /** A scalar type, or 'message' with {@link message}. */
  readonly type: ScalarType | 'message';
  readonly repeated: boolean;
  readonly required: boolean;
  /** The sub-message layout of a 'message' field (resolved lazily: layouts may refer to each other). */
  message?: MessageLayout;
  /** The full name of the sub-message type of a 'message' field. */
  readonly messageName?: string;
}

/** A message type: its fields by number, and the values absent fields read as. */
export interface MessageLayout {
  readonly name: string;
  readonly fields: ReadonlyMap<number, FieldLayout>;
  /** Names of required fields. */
  readonly required: readonly string[];
  /** The prototype of decoded messages: proto2 defaults of absent fields. */
  readonly defaults: object;
}

interface JsonField {
  rule?: string;
  type: string;
  id: number;
  options?: Record<string, unknown>;
}

interface JsonType {
  fields?: Record<string, JsonField>;
  values?: Record<string, number>;
  nested?: Record<string, JsonType>;
}

const SCALARS = new Set<string>([
  'int32', 'uint32', 'sint32', 'bool', 'int64', 'uint64', 'sint64',
  'fixed32', 'sfixed32', 'float', 'fixed64', 'sfixed64', 'double', 'string', 'bytes',
]);

const WIDE = new Set<string>(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

let definitions: Map<string, JsonType> | undefined;
const layouts = new Map<string, MessageLayout>();

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

/** Parses proto/*.proto with protobufjs, loaded only here (the build, or a checkout without a fresh build). */
function parseProtoFiles(project: string): Root {
  const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');
  const parsed = new protobuf.Root().loadSync(protoFiles(project), { keepCase: true });
  parsed.resolveAll();
  return parsed;
}

/** The compiled schema, if `npm run build` wrote one that is newer than every .proto file. */
function loadCompiled(project: string): JsonType | undefined {
  const compiled = join(project, 'dist', COMPILED_SCHEMA);
  if (!existsSync(compiled)) return undefined;
  const builtAt = statSync(compiled).mtimeMs;
  if (protoFiles(project).some((file) => statSync(file).mtimeMs > builtAt)) return undefined;
  return JSON.parse(readFileSync(compiled, 'utf8')) as JsonType;
}

/** Every message and enum of the schema by full name (`criu.CoreEntry`, `criu.CoreEntry.Arch`). */
function schemaDefinitions(): Map<string, JsonType> {
  if (!definitions) {
    const project = projectDirectory();
    const json = loadCompiled(project) ?? (parseProtoFiles(project).toJSON() as JsonType);
    const found = new Map<string, JsonType>();
    const walk = (prefix: string, nested: Record<string, JsonType> | undefined): void => {
      for (const [name, definition] of Object.entries(nested ?? {})) {
        const full = prefix ? `${prefix}.${name}` : name;
        if (definition.fields || definition.values) found.set(full, definition);
        walk(full, definition.nested);
      }
    };
    walk('', json.nested);
    definitions = found;
  }
  return definitions;
}

/** Resolves a type name as protobuf scopes it: from the innermost enclosing scope of `scope` outwards. */
function resolveName(name: string, scope: string): string {
  const known = schemaDefinitions();
  if (name.startsWith('.')) return name.slice(1);
  for (let outer = scope; ; ) {
    const candidate = outer ? `${outer}.${name}` : name;
    if (known.has(candidate)) return candidate;
    if (!outer) throw new CriuGdbError(`the image schema has no type ${name} (used in ${scope})`);
    const dot = outer.lastIndexOf('.');
    outer = dot < 0 ? '' : outer.slice(0, dot);
  }
}

/** The value an absent field reads as: its `[default = ...]`, else proto2's zero of its type. */
function defaultValue(field: JsonField, type: ScalarType | 'message', enumValues: Record<string, number> | undefined): unknown {
  const given = field.options?.['default'];
  if (type === 'message') return null;
  if (type === 'enum') {
    if (typeof given === 'string' && enumValues && given in enumValues) return enumValues[given];
    if (typeof given === 'number') return given;
    return enumValues ? (Object.values(enumValues)[0] ?? 0) : 0;
  }
  if (type === 'bool') return given === true;
  if (type === 'string') return typeof given === 'string' ? given : '';
  if (type === 'bytes') return Buffer.alloc(0);
  if (WIDE.has(type)) return typeof given === 'number' || typeof given === 'string' ? BigInt(given) : 0n;
  return typeof given === 'number' ? given : 0;
}

/** The layout of message type `name` of the `criu` package, e.g. `messageLayout('PstreeEntry')`. */
export function messageLayout(name: string): MessageLayout {
  return packageLayouts.get(name) ?? cachePackageLayout(name);
}

/** Layouts by their name in the `criu` package: entries look theirs up once per entry. */
const packageLayouts = new Map<string, MessageLayout>();

function cachePackageLayout(name: string): MessageLayout {
  const layout = layoutOf(`${PROTO_PACKAGE}.${name}`);
  packageLayouts.set(name, layout);
  return layout;
}

function layoutOf(fullName: string): MessageLayout {
  const cached = layouts.get(fullName);
  if (cached) return cached;
  const definition = schemaDefinitions().get(fullName);
  if (!definition?.fields) throw new CriuGdbError(`the image schema has no message ${fullName}`);
  const fields = new Map<number, FieldLayout>();
  const defaults: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [fieldName, field] of Object.entries(definition.fields)) {
    let type: ScalarType | 'message';
    let messageName: string | undefined;
    let enumValues: Record<string, number> | undefined;
    if (SCALARS.has(field.type)) type = field.type as ScalarType;
    else {
      const resolved = resolveName(field.type, fullName);
      const target = schemaDefinitions().get(resolved);
      if (target?.values) {
        type = 'enum';
        enumValues = target.values;
      } else {
        type = 'message';
        messageName = resolved;
      }
    }
    const isRepeated = field.rule === 'repeated';
    fields.set(field.id, { name: fieldName, type, repeated: isRepeated, required: field.rule === 'required', messageName });
    defaults[fieldName] = isRepeated ? NO_VALUES : defaultValue(field, type, enumValues);
    if (field.rule === 'required') required.push(fieldName);
  }
  const layout: MessageLayout = { name: fullName.slice(fullName.lastIndexOf('.') + 1), fields, required, defaults };
  layouts.set(fullName, layout);
  return layout;
}

/** The layout of a 'message' field's type. */
export function subLayout(field: FieldLayout): MessageLayout {
  field.message ??= layoutOf(field.messageName ?? '');
  return field.message;
}

/** Writes dist/schema.json from proto/*.proto; run by `npm run build`. */
export function compileSchema(): string {
  const project = projectDirectory();
  const target = join(project, 'dist', COMPILED_SCHEMA);
  writeFileSync(target, JSON.stringify(parseProtoFiles(project).toJSON() as INamespace));
  return target;
}
