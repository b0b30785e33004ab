# The loaded checkpoint: its helper, the inferiors connected to the helper's sockets, and their release.

import os
import shutil
import time

import gdb

from . import hooks
from .gdbutil import Quiet, execute, inferior, switch
from .rpc import ClientError, Helper, HelperError, helper_command, take_launcher_helper, timeout_setting

OPEN_TIMEOUT = 120.0


def project_root():
    """The criu-gdb checkout or package this plugin belongs to (the parent of gdb-plugin/)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def start_helper():
    """The helper the launcher started for this gdb, the first time; else a new helper process."""
    return take_launcher_helper() or Helper(helper_command(project_root()))


class Session:
    """A loaded checkpoint."""

    def __init__(self, helper, path, root):
        self.helper = helper
        self.path = path
        self.root = root
        self.processes = []  # what `open` returned
        self.directory = None
        self.files = {}  # the file route of `open`: route, sysroot, notes
        # inferior number -> {"pid", "created"}: created means added by criu-load (removed by criu-unload)
        self.inferiors = {}
        self.original = gdb.selected_inferior().num
        self.warned_dead = False
        # gdb's sysroot before criu-load set the session's (restored by criu-unload); None when unchanged.
        self.saved_sysroot = None
        # The memory-cache settings criu-load changed and the numbers of the regions it defined (restored and
        # deleted by criu-unload); None when unchanged.
        self.saved_cache = None

    def owns(self, candidate):
        """Whether `candidate` is a live checkpoint inferior of this session."""
        entry = self.inferiors.get(candidate.num)
        return entry is not None and candidate.is_valid() and candidate.pid != 0

    def pid_of(self, candidate):
        entry = self.inferiors.get(candidate.num)
        return entry["pid"] if entry is not None else None


# The loaded checkpoint, or None.
current = None


def current_pid():
    """The checkpoint pid of the current inferior, or None when it is not a checkpoint inferior."""
    session = current
    if session is None:
        return None
    selected = gdb.selected_inferior()
    return session.pid_of(selected) if selected.num in session.inferiors else None


def require():
    if current is None:
        raise gdb.GdbError("no checkpoint is loaded (use criu-load DIR)")
    return current


def request(method, params=None, timeout=None, progress=None):
    """A request to the loaded checkpoint's helper; a dead helper's error says how to recover."""
    session = require()
    try:
        return session.helper.request(method, params, timeout=timeout, progress=progress)
    except HelperError:
        raise
    except ClientError as error:
        if not session.helper.alive():
            raise gdb.GdbError("%s (criu-unload cleans up; criu-load starts again)" % error)
        raise


def release_inferiors(session):
    """Disconnects every inferior of the session, removes the ones criu-load added, returns to the user's
    inferior. Best effort: problems are reported as warnings, never raised."""
    problems = []
    with Quiet():
        # `detach`, not `disconnect`: gdb 13's disconnect command also clears the thread list of every
        # other inferior (init_thread_list), which would strand the remaining connections.
        for phase in ("detach", "disconnect"):
            for num, entry in sorted(session.inferiors.items()):
                found = inferior(num)
                if found is None:
                    continue
                try:
                    if phase == "detach" and found.pid != 0:
                        switch(num)
                        execute("detach")
                    elif phase == "disconnect" and found.connection_num is not None:
                        switch(num)
                        execute("disconnect")
                except gdb.GdbError as error:
                    # With the helper gone, the connection fails, and gdb drops it: that is the goal.
                    if session.helper.alive():
                        problems.append("inferior %d: %s" % (num, error))
        for num, entry in sorted(session.inferiors.items()):
            if not entry["created"] and inferior(num) is not None:
                try:
                    switch(num)
                    execute("file")  # forget the checkpoint's executable and symbols
                except gdb.GdbError as error:
                    problems.append("inferior %d: %s" % (num, error))
        keep = inferior(session.original)
        if keep is None or session.inferiors.get(session.original, {}).get("created"):
            keep = next((i for i in gdb.inferiors() if not session.inferiors.get(i.num, {}).get("created")), None)
        if keep is not None:
            try:
                switch(keep.num)
            except gdb.GdbError as error:
                problems.append(str(error))
        for num, entry in sorted(session.inferiors.items()):
            if entry["created"] and inferior(num) is not None and (keep is None or keep.num != num):
                try:
                    execute("remove-inferiors %d" % num)
                except gdb.GdbError as error:
                    problems.append("inferior %d: %s" % (num, error))
    session.inferiors.clear()
    return problems


def _remove_stale_directory(session):
    """A helper that was killed could not remove its socket directory: remove it for it."""
    directory = session.directory
    if directory and os.path.basename(directory).startswith("criu-gdb-") and os.path.isdir(directory):
        shutil.rmtree(directory, ignore_errors=True)


def unload(quiet=False):
    """Ends the current session, if any. Returns whether there was one."""
    global current
    session = current
    if session is None:
        return False
    current = None
    problems = release_inferiors(session)
    problems.extend(_restore_sysroot(session))
    problems.extend(_restore_memory_cache(session))
    session.helper.stop()
    _remove_stale_directory(session)
    for problem in problems:
        gdb.write("warning: criu-unload: %s\n" % problem)
    if not quiet:
        gdb.write("criu-unload: closed %s\n" % session.path)
    return True


def _set_sysroot(session, files):
    """Sets gdb's sysroot to the route the helper chose (local `/`, a private view, or `target:`), saving
    the user's for criu-unload. sysroot is global: native inferiors see it until then."""
    sysroot = files.get("sysroot") if isinstance(files, dict) else None
    if not isinstance(sysroot, str) or sysroot == "" or "\n" in sysroot:
        raise gdb.GdbError("criu-gdb helper returned no file route")
    session.saved_sysroot = gdb.parameter("sysroot") or ""
    with Quiet():
        execute("set sysroot %s" % sysroot)


def _restore_sysroot(session):
    if session.saved_sysroot is None:
        return []
    saved, session.saved_sysroot = session.saved_sysroot, None
    try:
        with Quiet():
            execute("set sysroot %s" % saved)
    except gdb.GdbError as error:
        return ["cannot restore sysroot %s: %s" % (saved, error)]
    return []


def _check_architectures(processes):
    """Refuses, in one line, a checkpoint of an architecture this gdb was built without (a native x86-64
    gdb cannot debug aarch64 tasks; gdb-multiarch can). The target description then selects it."""
    names = getattr(gdb, "architecture_names", None)
    if names is None:
        return
    known = set(names())
    for process in processes:
        wanted = process.get("architecture")
        if isinstance(wanted, str) and wanted not in known:
            raise gdb.GdbError(
                "pid %d is an %s process and this gdb cannot debug %s programs: install gdb-multiarch "
                "(apt install gdb-multiarch) and run criu-load from it" % (process["pid"], wanted, wanted)
            )


# gdb's data cache, used for the checkpoint's memory: one line per page, the largest size that never crosses
# the end of a mapping (a line that does fails to read). Against 256- and 1024-byte lines, page lines made
# nearby reads and `x/20000gx` 2-5x faster, and the first read of each page 2-3x slower (one 4 KiB round
# trip). 4096 lines: 16 MiB per inferior. test/bench/gdb-bench.ts measures the small reads.
CACHE_LINE_SIZE = 4096
CACHE_LINES = 4096
CACHE_SETTINGS = (("mem inaccessible-by-default", "off"), ("dcache line-size", str(CACHE_LINE_SIZE)),
                  ("dcache size", str(CACHE_LINES)))


def _boolean_word(value):
    if value is True:
        return "on"
    if value is False:
        return "off"
    return str(value)


def _cache_memory(session):
    """Lets gdb cache the checkpoint's memory: a `mem START END cache` region per range the helper
    offers, with `mem inaccessible-by-default off` so that addresses outside them (a native inferior's)
    stay readable, and page-sized cache lines. Memory regions and these settings are global in gdb: a
    native inferior's reads inside the ranges are cached too, and stay correct since gdb drops its cache
    whenever an inferior resumes. Left alone when the user has memory regions of their own."""
    ranges = []
    for process in session.processes:
        for pair in process.get("cacheableRanges") or []:
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and x.startswith("0x") for x in pair):
                ranges.append((int(pair[0], 16), int(pair[1], 16)))
    if not ranges:
        return
    with Quiet():
        if "Using user-defined memory regions" in execute("info mem"):
            return
        saved = {"settings": [(name, _boolean_word(gdb.parameter(name))) for name, _ in CACHE_SETTINGS], "regions": []}
        session.saved_cache = saved
        for name, value in CACHE_SETTINGS:
            execute("set %s %s" % (name, value))
        merged = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            execute("mem 0x%x 0x%x cache" % (start, end))
        for line in execute("info mem").splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[0].isdigit():
                saved["regions"].append(fields[0])


def _restore_memory_cache(session):
    if session.saved_cache is None:
        return []
    saved, session.saved_cache = session.saved_cache, None
    problems = []
    with Quiet():
        try:
            if saved["regions"]:
                execute("delete mem %s" % " ".join(saved["regions"]))
            if "There are no memory regions defined" in execute("info mem"):
                execute("mem auto")
        except gdb.GdbError as error:
            problems.append("cannot delete the memory regions of the checkpoint: %s" % error)
        for name, value in saved["settings"]:
            try:
                execute("set %s %s" % (name, value))
            except gdb.GdbError as error:
                problems.append("cannot restore %s %s: %s" % (name, value, error))
    return problems


def _connect(session, progress):
    """One inferior per process, connected to its socket."""
    with Quiet():
        selected = gdb.selected_inferior()
        reuse = selected.pid == 0 and selected.connection_num is None
        for index, process in enumerate(session.processes):
            if index == 0 and reuse:
                num, created = selected.num, False
            else:
                before = {i.num for i in gdb.inferiors()}
                execute("add-inferior -no-connection")
                added = [i.num for i in gdb.inferiors() if i.num not in before]
                if not added:
                    raise gdb.GdbError("add-inferior did not add an inferior")
                num, created = added[0], True
            session.inferiors[num] = {"pid": process["pid"], "created": created}
            switch(num)
            if len(session.processes) > 1:
                progress("connecting inferior %d to pid %d (%d/%d)" % (num, process["pid"], index + 1, len(session.processes)))
            try:
                execute("target remote %s" % process["socket"])
            except gdb.GdbError as error:
                raise gdb.GdbError("pid %d: %s" % (process["pid"], error))
            if not session.helper.alive():
                raise session.helper.exit_error()


def load(path, given, root, pid, remote_files=False, build_id_dirs=()):
    """Opens the checkpoint at path (as the user gave it: given) in a new helper and connects one inferior
    per process; replaces a loaded checkpoint. Returns the session and the warnings of `open`."""
    global current
    if current is not None:
        unload(quiet=True)

    started = time.monotonic()

    def progress(message):
        if time.monotonic() - started > 1.0:
            gdb.write("criu-load: %s\n" % message)
            gdb.flush()

    helper = start_helper()
    session = Session(helper, path, root)
    try:
        params = {"path": path}
        if root is not None:
            params["root"] = root
        if pid is not None:
            params["pid"] = pid
        if remote_files:
            params["remoteFiles"] = True
        if build_id_dirs:
            params["buildIdDirs"] = list(build_id_dirs)
        result = helper.request("open", params, timeout=timeout_setting(OPEN_TIMEOUT), progress=progress)
        if not isinstance(result, dict) or not isinstance(result.get("processes"), list) or not result["processes"]:
            raise gdb.GdbError("criu-gdb helper returned no processes for %s" % given)
        session.processes = result["processes"]
        session.directory = result.get("directory")
        session.files = result.get("files") or {}
        _check_architectures(session.processes)
        hooks.install_hooks()
        current = session
        _set_sysroot(session, session.files)
        _cache_memory(session)
        _connect(session, progress)
    except BaseException:
        if current is session:
            current = None
            release_inferiors(session)
        _restore_sysroot(session)
        _restore_memory_cache(session)
        helper.stop()
        raise
    return session, result.get("warnings") or []
