/**
 * protobufjs types of the images' schema (proto/*.proto), for tests that encode or re-encode entries. The
 * helper itself decodes with src/images/decode.ts; tests build their inputs with an independent encoder.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT } from './checkpoints.js';

let root: protobuf.Root | undefined;

/** The message type `criu.NAME`, e.g. `messageType('CoreEntry')`. */
export function messageType(name: string): protobuf.Type {
  if (!root) {
    const dir = join(REPO_ROOT, 'proto');
    const files = readdirSync(dir).filter((f) => f.endsWith('.proto')).sort().map((f) => join(dir, f));
    root = new protobuf.Root().loadSync(files, { keepCase: true });
    root.resolveAll();
  }
  return root.lookupType(`criu.${name}`);
}
