/**
 * qXfer:libraries-svr4:read: the dynamic linker's list read from the checkpoint in one packet. Each library's
 * load address equals the start of its lowest mapping in the live process's maps; every gdb of the version
 * matrix asks for the list (and gets it) instead of walking link_map, and `info sharedlibrary` then equals
 * what live gdb showed.
 */
import { realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { librariesSvr4Document } from '../../src/rsp/libraries-svr4.js';
import { checkpointAvailability, imagesDir, loadTruth, type CheckpointName } from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { gdbOnCheckpoint, liveView } from '../helpers/gdb-session.js';

const SUBJECTS: CheckpointName[] = ['cxx_values', 'py_stack'];

for (const name of SUBJECTS) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available)(`libraries-svr4 on ${name}`, () => {
    it('lists every shared object with the load address of its lowest live mapping', () => {
      const truth = loadTruth(name);
      const live = truth.processes.find((p) => p.pid === truth.rootPid)!;
      const checkpoint = Checkpoint.open(imagesDir(name));
      try {
        const process = checkpoint.process(live.pid);
        const memory = process.memory();
        const document = librariesSvr4Document((address, length) => memory.readAvailable(address, length), process.mm().auxvEntries, '');
        expect(document).toMatch(/^<library-list-svr4 version="1.0" main-lm="0x[0-9a-f]+">/);
        const libraries = [...document!.matchAll(/<library name="([^"]*)" lm="0x[0-9a-f]+" l_addr="(0x[0-9a-f]+)" l_ld="0x[0-9a-f]+"\/>/g)];
        const onDisk = libraries.filter(([, path]) => path!.startsWith('/'));
        expect(onDisk.length).toBeGreaterThanOrEqual(3);
        for (const [, path, lAddr] of onDisk) {
          // The linker's name may go through a symlink (/lib -> usr/lib); maps show the real path.
          const real = realpathSync(path!);
          const lowest = live.maps.filter((m) => m.name === real).map((m) => BigInt(m.start)).sort((a, b) => (a < b ? -1 : 1))[0];
          expect(lowest, `${path} is mapped in the live process`).toBeDefined();
          expect(BigInt(lAddr!), path).toBe(lowest);
        }
        // gdb's incremental form: from an entry on, given the entry before it.
        const mainLm = /main-lm="0x([0-9a-f]+)"/.exec(document!)![1]!;
        const lms = [...document!.matchAll(/ lm="0x([0-9a-f]+)"/g)].map((m) => m[1]!);
        const tail = librariesSvr4Document((address, length) => memory.readAvailable(address, length), process.mm().auxvEntries, `start=${lms[1]};prev=${lms[0]}`);
        expect(tail).toBe(`<library-list-svr4 version="1.0">${libraries.slice(1).map((m) => m[0]).join('')}</library-list-svr4>`);
        const whole = librariesSvr4Document((address, length) => memory.readAvailable(address, length), process.mm().auxvEntries, `start=${mainLm};prev=0`);
        expect(whole).toBe(document);
        expect(librariesSvr4Document((address, length) => memory.readAvailable(address, length), process.mm().auxvEntries, 'start=zz')).toBeUndefined();
      } finally {
        checkpoint.close();
      }
    });
  });

  for (const gdb of gdbMatrix()) {
    warnIfUnavailable(gdb);
    describe.skipIf(!availability.available || !gdb.available)(`${gdb.label} on ${name}`, () => {
      it('reads the library list in one transfer and shows the live `info sharedlibrary`', { timeout: 180_000 }, async () => {
        const truth = loadTruth(name);
        const live = truth.processes.find((p) => p.pid === truth.rootPid)!;
        const run = await gdbOnCheckpoint(imagesDir(name), ['set debug remote 1', "python print('@@LIBS')", 'info sharedlibrary', 'set debug remote 0'], { gdb: gdb.command });
        expect(run.stderr).toMatch(/Sending packet: \$qXfer:libraries-svr4:read::0,[0-9a-f]+#/);
        expect(run.stderr).toMatch(/Packet received: l<library-list-svr4 version="1.0" main-lm=/);
        const shown = run.text.split('@@LIBS\n')[1]!.trim();
        expect(shown).toBe(liveView(live, gdb).probes!['info sharedlibrary']!.trim());
      });
    });
  }
}
