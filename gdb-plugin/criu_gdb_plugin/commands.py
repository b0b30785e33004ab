# gdb commands: criu-load, criu-unload, criu (status), criu coredump, and the `criu NAME` commands of the
# helper's views (ps, fds, maps, info, search), whose names, help and options come from the helper.

import json
import os
import re

import gdb

from . import session as sessions
from .gdbutil import guard, inferior, write_text
from .rpc import ClientError, one_line, timeout_setting

MIN_GDB_MAJOR = 13
LOAD_USAGE = "criu-load DIR [--root PATH] [--pid N] [--build-id-dir PATH] [--remote-files]"
COREDUMP_USAGE = "criu coredump [--pid N] [DIR]"
# Seconds without progress from the helper before a coredump request is given up.
COREDUMP_TIMEOUT = 120.0
# Seconds for the helper to list its commands when the plugin is loaded.
COMMANDS_TIMEOUT = 10.0


def _check_gdb_version():
    match = re.match(r"(\d+)", gdb.VERSION)
    if match is None or int(match.group(1)) < MIN_GDB_MAJOR:
        raise gdb.GdbError("criu-load needs gdb %d or newer (this is gdb %s)" % (MIN_GDB_MAJOR, gdb.VERSION))


def _parse_options(argv, spec, usage):
    """Splits the argv of criu-load or criu coredump into (options, positionals). spec maps option
    name -> takes a value. (The views' arguments are parsed by the helper.)"""
    options, positionals = {}, []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positionals.extend(argv[i + 1:])
            break
        if word.startswith("--") and len(word) > 2:
            name, has_eq, value = word[2:].partition("=")
            if name not in spec:
                raise gdb.GdbError("unknown option --%s; usage: %s" % (name, usage))
            if spec[name]:
                if not has_eq:
                    i += 1
                    if i >= len(argv):
                        raise gdb.GdbError("--%s needs a value; usage: %s" % (name, usage))
                    value = argv[i]
                options[name] = value
            else:
                if has_eq:
                    raise gdb.GdbError("--%s takes no value; usage: %s" % (name, usage))
                options[name] = True
        else:
            positionals.append(word)
        i += 1
    return options, positionals


def _int_option(options, name):
    value = options.get(name)
    if value is None:
        return None
    try:
        number = int(value, 0)
    except ValueError:
        raise gdb.GdbError("--%s needs a number, not %s" % (name, value))
    if number <= 0:
        raise gdb.GdbError("--%s needs a positive number" % name)
    return number


def _expand(path):
    return os.path.abspath(os.path.expanduser(path))


def _complete_paths(text, word, option_names):
    """Completion for criu-load: option names for a word starting with -, nothing after --pid, else file
    names. gdb 13's own filename completion (gdb.COMPLETE_FILENAME) only completes the first argument of a
    Python command, so the names are listed here; COMPLETE_FILENAME is still returned in the first phase
    (word is None) so that gdb splits words at spaces only, not at '/' or '-'."""
    if word is None:
        return gdb.COMPLETE_FILENAME
    tokens = text.split()
    previous = tokens[-1] if text.endswith((" ", "\t")) else (tokens[-2] if len(tokens) >= 2 else "")
    if previous == "--pid":
        return []
    prefix = ""
    if word.startswith("--root="):
        prefix, word = "--root=", word[len("--root="):]
    elif word.startswith("-"):
        return [name for name in option_names if name.startswith(word)]
    directory, partial = os.path.split(word)
    try:
        names = os.listdir(os.path.expanduser(directory) or ".")
    except OSError:
        return []
    completions = []
    for name in sorted(names):
        if name.startswith(partial) and (partial.startswith(".") or not name.startswith(".")):
            path = os.path.join(directory, name)
            completions.append(prefix + path + ("/" if os.path.isdir(os.path.expanduser(path)) else ""))
    return completions


class CriuLoad(gdb.Command):
    """Open a CRIU checkpoint: every process becomes an inferior, read-only.

Usage: criu-load DIR [--root PATH] [--pid N] [--build-id-dir PATH] [--remote-files]

DIR is a CRIU images directory. --root PATH is where the checkpointed processes' files live (default /):
executables, libraries and file-backed pages are read from there. --pid N loads only that process.

Every mapped file is checked against the checkpoint (size, build-id). When the root is / and all match,
gdb opens the processes' own paths (sysroot /); otherwise it reads a private view of the checked files.
A file that does not match is named and left out, unless a file with the recorded build-id is found in
--build-id-dir PATH, /usr/lib/debug/.build-id or a debuginfod server (DEBUGINFOD_URLS).
--remote-files gives gdb every file through the remote protocol instead (sysroot target:).
criu-load sets gdb's sysroot for the session; criu-unload restores it.

The first process goes into the current inferior (or a new one if the current inferior is in use), each
further process into an inferior of its own. A second criu-load replaces the first. The processes cannot
be resumed: continue, step, run, kill and the like fail with "the checkpoint is read-only".
Use criu-unload to close the checkpoint, and "help criu" for its views (ps, fds, maps, info, search)."""

    def __init__(self, name="criu-load"):
        super().__init__(name, gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        guard(self._load)(argument)

    @staticmethod
    def _load(argument):
        _check_gdb_version()
        spec = {"root": True, "pid": True, "build-id-dir": True, "remote-files": False}
        options, positionals = _parse_options(gdb.string_to_argv(argument), spec, LOAD_USAGE)
        if len(positionals) != 1:
            raise gdb.GdbError("usage: %s" % LOAD_USAGE if not positionals else "unexpected argument: %s; usage: %s" % (positionals[1], LOAD_USAGE))
        given = positionals[0]
        path = _expand(given)
        if not os.path.exists(path):
            raise gdb.GdbError("%s: no such checkpoint directory" % given)
        if not os.path.isdir(path) and not os.path.isfile(path):
            raise gdb.GdbError("%s: not a checkpoint directory or archive" % given)
        root = options.get("root")
        if root is not None:
            root = _expand(root)
            if not os.path.isdir(root):
                raise gdb.GdbError("--root %s: no such directory" % options["root"])
        pid = _int_option(options, "pid")
        build_id_dirs = []
        if options.get("build-id-dir") is not None:
            build_id_dirs.append(_expand(options["build-id-dir"]))
            if not os.path.isdir(build_id_dirs[0]):
                raise gdb.GdbError("--build-id-dir %s: no such directory" % options["build-id-dir"])

        session, warnings = sessions.load(path, given, root, pid, bool(options.get("remote-files")), build_id_dirs)
        register_helper_commands(session.helper)
        first = min(session.inferiors)
        for num in sorted(session.inferiors):
            info = next(p for p in session.processes if p["pid"] == session.inferiors[num]["pid"])
            threads = len(info.get("threads") or [])
            gdb.write("inferior %d: pid %d (%s), %d thread%s\n" % (num, info["pid"], info.get("comm", ""), threads, "" if threads == 1 else "s"))
        for warning in warnings:
            gdb.write("warning: %s\n" % warning)
        for note in session.files.get("notes") or []:
            gdb.write("criu-load: %s\n" % note)
        # Switch back to the first process, showing where it stopped.
        gdb.execute("inferior %d" % first, False, False)

    def complete(self, text, word):
        return _complete_paths(text, word, ("--root", "--pid", "--build-id-dir", "--remote-files"))


class CriuUnload(gdb.Command):
    """Close the CRIU checkpoint that criu-load opened.

Usage: criu-unload

Disconnects every inferior of the checkpoint, removes the inferiors criu-load added, and stops the
criu-gdb helper, which removes its sockets."""

    def __init__(self, name="criu-unload"):
        super().__init__(name, gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        guard(self._unload)(argument)

    @staticmethod
    def _unload(argument):
        if argument.strip():
            raise gdb.GdbError("criu-unload takes no arguments")
        if not sessions.unload():
            raise gdb.GdbError("no checkpoint is loaded")


class CriuPrefix(gdb.Command):
    """Look at the loaded CRIU checkpoint.

criu-load DIR [--root PATH] [--pid N] opens a checkpoint (one inferior per process, read-only) and
criu-unload closes it; "criu load" and "criu unload" are the same commands.
Without a subcommand, "criu" shows what is loaded. Subcommands:"""

    def __init__(self):
        super().__init__("criu", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, True)

    def invoke(self, argument, from_tty):
        guard(self._status)(argument)

    @staticmethod
    def _status(argument):
        if argument.strip():
            raise gdb.GdbError('Undefined criu command: "%s".  Try "help criu".' % argument.strip().split()[0])
        session = sessions.current
        if session is None:
            gdb.write("no checkpoint is loaded (use criu-load DIR)\n")
            return
        state = "" if session.helper.alive() else " (the helper has exited: criu-unload cleans up)"
        gdb.write("checkpoint %s%s\n" % (session.path, state))
        for num in sorted(session.inferiors):
            found = inferior(num)
            connected = found is not None and found.pid != 0
            gdb.write("  inferior %d: pid %d%s\n" % (num, session.inferiors[num]["pid"], "" if connected else " (disconnected)"))


class HelperCommand(gdb.Command):
    """Base of the `criu NAME` commands the helper defines; each subclass carries the helper's help as its
    docstring. The arguments go to the helper as they are, with the current inferior's pid."""

    info = {}

    def __init__(self):
        super().__init__("criu %s" % self.info["name"], gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        guard(self._run)(argument)

    def _absolute_operands(self, argv):
        """argv with its operands (not options, not option values) made absolute against gdb's directory."""
        takes_value = {option.get("name") for option in self.info.get("options") or [] if option.get("value")}
        words, value_next = [], False
        for word in argv:
            if value_next or word.startswith("--"):
                value_next = not value_next and word[2:] in takes_value
                words.append(word)
            else:
                words.append(_expand(word))
        return words

    def _run(self, argument):
        argv = gdb.string_to_argv(argument)
        if self.info.get("pathOperands"):
            argv = self._absolute_operands(argv)
        params = {"argv": [self.info["name"]] + argv}
        if self.info.get("perProcess"):
            pid = sessions.current_pid()
            if pid is not None:
                params["pid"] = pid
        result = sessions.request("run", params)
        if not isinstance(result, dict):
            raise gdb.GdbError("criu-gdb helper returned no text for criu %s" % self.info["name"])
        write_text(result.get("text") or "")
        for warning in result.get("warnings") or []:
            gdb.write("warning: %s\n" % warning)

    def complete(self, text, word):
        if word is None or not word.startswith("-"):
            return []
        names = ["--%s" % option["name"] for option in self.info.get("options") or []]
        return [name for name in names if name.startswith(word)]


_helper_commands = set()


def _register_listed(listed):
    """Registers `criu NAME` for each command of a `commands` reply (once each)."""
    for info in (listed or {}).get("commands") or []:
        name = info.get("name") if isinstance(info, dict) else None
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9-]*$", name) or name in _helper_commands:
            continue
        _helper_commands.add(name)
        command = type("Criu_%s" % re.sub(r"\W", "_", name), (HelperCommand,), {"__doc__": info.get("help") or name, "info": info})
        command()


def register_helper_commands(helper):
    """Registers `criu NAME` for each command the helper lists (once each). Returns whether it could ask."""
    try:
        listed = helper.request("commands", timeout=timeout_setting(COMMANDS_TIMEOUT))
    except ClientError:
        return False
    _register_listed(listed)
    return True


def register_commands_at_start():
    """Registers the helper's commands so that `help criu` lists them before any criu-load: from the list the
    build wrote (dist/gdb-commands.json), else by asking a short-lived helper. When both fail (no node, not
    built), they are registered by the first criu-load, which then says why."""
    try:
        with open(os.path.join(sessions.project_root(), "dist", "gdb-commands.json"), encoding="utf-8") as listing:
            _register_listed(json.load(listing))
            return
    except (OSError, ValueError):
        pass
    try:
        helper = sessions.start_helper()
    except ClientError:
        return
    try:
        register_helper_commands(helper)
    except Exception as error:  # a defect must not break sourcing the plugin: one line
        gdb.write("warning: criu-gdb: cannot list the helper's commands: %s: %s\n" % (type(error).__name__, one_line(error)))
    finally:
        helper.stop()


class CriuCoredump(gdb.Command):
    """Write ELF core files of the loaded checkpoint's processes.

Usage: criu coredump [--pid N] [DIR]

Writes core.PID into DIR (default: gdb's current directory) for every process of the checkpoint, or only
for --pid N. A core holds every thread's registers (AVX-512 included) and all the memory the checkpoint
holds; memory it does not hold is left out of the core and listed. Open a core with
"gdb EXECUTABLE core.PID" (or lldb). Same as the shell command: criu-gdb coredump CHECKPOINT -o DIR."""

    def __init__(self):
        super().__init__("criu coredump", gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        guard(self._run)(argument)

    @staticmethod
    def _run(argument):
        options, positionals = _parse_options(gdb.string_to_argv(argument), {"pid": True}, COREDUMP_USAGE)
        if len(positionals) > 1:
            raise gdb.GdbError("unexpected argument: %s; usage: %s" % (positionals[1], COREDUMP_USAGE))
        sessions.require()
        params = {"directory": _expand(positionals[0]) if positionals else os.getcwd()}
        pid = _int_option(options, "pid")
        if pid is not None:
            params["pid"] = pid

        def progress(message):
            gdb.write("criu coredump: %s\n" % message)
            gdb.flush()

        result = sessions.request("coredump", params, timeout=timeout_setting(COREDUMP_TIMEOUT), progress=progress)
        write_text(result.get("text", "") if isinstance(result, dict) else "")
        for warning in (result.get("warnings") or []) if isinstance(result, dict) else []:
            gdb.write("warning: %s\n" % warning)


class CriuLoadAlias(CriuLoad):
    """Open a CRIU checkpoint (same as criu-load DIR [--root PATH] [--pid N])."""

    def __init__(self):
        super().__init__("criu load")


class CriuUnloadAlias(CriuUnload):
    """Close the CRIU checkpoint (same as criu-unload)."""

    def __init__(self):
        super().__init__("criu unload")

