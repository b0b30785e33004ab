/**
 * gdb target descriptions (target.xml) in general: the register list and feature XML every architecture
 * module builds its own description from. gdb matches registers by name inside named features; the
 * numbering is the order of the registers here, which is also the `g` packet's layout.
 */

/** One register of the description. */
export interface RegisterSpec {
  /** gdb's name, e.g. `rax`, `st0`, `x29`, `v3`. */
  name: string;
  /** Size in bits (8..512); every size used here is a whole number of bytes. */
  bitsize: number;
  /** Position in the `g` packet and the number the `p` packet uses. */
  regnum: number;
  /** Feature that holds it, e.g. `org.gnu.gdb.i386.core`. */
  feature: string;
  /** gdb type name, predefined or defined in the feature (e.g. `int64`, `vec128`, `i386_eflags`). */
  type: string;
  /** gdb register group, when gdb's own description gives one. */
  group?: 'float' | 'vector';
}

/** A complete target description: the XML gdb reads and the registers it numbers. */
export interface TargetDescription {
  /** Self-contained target.xml (every feature inline, no includes). */
  xml: string;
  /** Every register in `g`-packet order; `registers[i].regnum === i`. */
  registers: RegisterSpec[];
  /** Names of the features included, in order. */
  features: string[];
  /** Size of a full `g` packet in bytes (its reply has twice as many hex digits). */
  gPacketBytes: number;
}

/** A flags type: single-bit fields. */
export interface FlagsType {
  kind: 'flags';
  id: string;
  size: number;
  /** [name, bit]; single-bit fields. */
  fields: Array<[string, number]>;
}
/** A vector of `count` elements of a predefined type. */
export interface VectorType {
  kind: 'vector';
  id: string;
  element: string;
  count: number;
}
/** A union or struct of typed fields. */
export interface UnionType {
  kind: 'union' | 'struct';
  id: string;
  fields: Array<[string, string]>;
}
/** A struct of bit fields. */
export interface BitStructType {
  kind: 'bitstruct';
  id: string;
  size: number;
  /** [name, start, end, type?] */
  fields: Array<[string, number, number, string?]>;
}
/** A type a feature defines. */
export type TypeDef = FlagsType | VectorType | UnionType | BitStructType;

/** A register of a feature, before numbering. */
export type RegDef = Omit<RegisterSpec, 'regnum' | 'feature'>;

/** One feature: its name, the types it defines and its registers in order. */
export interface FeatureDef {
  name: string;
  types: TypeDef[];
  registers: RegDef[];
}

/** `count` consecutive numbers from `from`. */
export const range = (count: number, from = 0): number[] => Array.from({ length: count }, (_, i) => from + i);

/** Registers of one size and type. */
export const regs = (names: string[], bitsize: number, type: string, group?: RegDef['group']): RegDef[] =>
  names.map((name) => (group ? { name, bitsize, type, group } : { name, bitsize, type }));

function attr(value: string | number): string {
  return `"${String(value).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}"`;
}

function typeXml(t: TypeDef): string[] {
  switch (t.kind) {
    case 'flags':
      return [
        `  <flags id=${attr(t.id)} size=${attr(t.size)}>`,
        ...t.fields.map(([name, bit]) => `    <field name=${attr(name)} start=${attr(bit)} end=${attr(bit)}/>`),
        '  </flags>',
      ];
    case 'vector':
      return [`  <vector id=${attr(t.id)} type=${attr(t.element)} count=${attr(t.count)}/>`];
    case 'union':
    case 'struct':
      return [
        `  <${t.kind} id=${attr(t.id)}>`,
        ...t.fields.map(([name, type]) => `    <field name=${attr(name)} type=${attr(type)}/>`),
        `  </${t.kind}>`,
      ];
    case 'bitstruct':
      return [
        `  <struct id=${attr(t.id)} size=${attr(t.size)}>`,
        ...t.fields.map(
          ([name, start, end, type]) => `    <field name=${attr(name)} start=${attr(start)} end=${attr(end)}${type ? ` type=${attr(type)}` : ''}/>`,
        ),
        '  </struct>',
      ];
  }
}

function registerXml(r: RegisterSpec): string {
  const group = r.group ? ` group=${attr(r.group)}` : '';
  return `  <reg name=${attr(r.name)} bitsize=${attr(r.bitsize)} type=${attr(r.type)} regnum=${attr(r.regnum)}${group}/>`;
}

/** The description of `features` for gdb architecture `architecture` (e.g. `aarch64`), Linux ABI. */
export function buildDescription(architecture: string, features: readonly FeatureDef[]): TargetDescription {
  const registers: RegisterSpec[] = [];
  const lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', '<target version="1.0">', `<architecture>${architecture}</architecture>`, '<osabi>GNU/Linux</osabi>'];
  for (const feature of features) {
    lines.push(`<feature name=${attr(feature.name)}>`);
    for (const t of feature.types) lines.push(...typeXml(t));
    for (const def of feature.registers) {
      const spec: RegisterSpec = { ...def, regnum: registers.length, feature: feature.name };
      registers.push(spec);
      lines.push(registerXml(spec));
    }
    lines.push('</feature>');
  }
  lines.push('</target>', '');
  return {
    xml: lines.join('\n'),
    registers,
    features: features.map((f) => f.name),
    gPacketBytes: registers.reduce((sum, r) => sum + r.bitsize / 8, 0),
  };
}
