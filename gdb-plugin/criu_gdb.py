# criu-gdb's gdb plugin: open a CRIU checkpoint in gdb, one inferior per process, read-only.
#
# Load it with `source /path/to/gdb-plugin/criu_gdb.py` (from any directory, or from ~/.gdbinit: see
# `criu-gdb gdbinit --install`). It registers:
#
#   criu-load DIR [--root PATH] [--pid N]   open a checkpoint (replaces one already open)
#   criu-unload                             close it
#   criu ps|fds|maps|info|search ...        views of the checkpoint (`help criu`)
#   criu coredump [--pid N] [DIR]           ELF core files of the processes (core.PID)
#
# How it works: criu-load starts the criu-gdb helper (`node <project>/dist/src/rpc/main.js`) and talks
# JSON-RPC 2.0 with it over the helper's stdin and stdout (Content-Length framing, written here by hand).
# The helper serves each process of the checkpoint with gdb's remote protocol on its own Unix socket in a
# private directory, and the plugin connects one inferior per process with `target remote SOCKET`.
#
# Only gdb's Python API and the standard library are used. Every failure is a gdb.GdbError with one line.

import errno
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import gdb

MIN_GDB_MAJOR = 13
READ_ONLY_MESSAGE = "the checkpoint is read-only"
# Commands that would run, step, signal or kill the process; hooked to fail on checkpoint inferiors.
RUN_COMMANDS = (
    "continue", "step", "next", "stepi", "nexti", "finish", "until", "advance", "jump",
    "run", "start", "starti", "signal", "kill",
)
CHECK_FUNCTION = "_criu_check_writable"
# Seconds of silence from the helper before a request is given up (progress notifications reset it).
DEFAULT_TIMEOUT = 30.0
OPEN_TIMEOUT = 120.0
STOP_TIMEOUT = 5.0


def _project_root():
    """The criu-gdb checkout or package this file belongs to (the parent of gdb-plugin/)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _timeout(default):
    value = os.environ.get("CRIU_GDB_TIMEOUT")
    try:
        return float(value) if value else default
    except ValueError:
        return default


def _one_line(text):
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _execute(command, quiet=True):
    """Runs a gdb command; its output is returned when quiet. gdb errors become gdb.GdbError."""
    try:
        return gdb.execute(command, False, quiet)
    except gdb.GdbError:
        raise
    except gdb.error as error:
        raise gdb.GdbError(_one_line(error) or "%s failed" % command)


class _Quiet:
    """For the duration of a block: `set confirm off` (gdb queries take their default answer) and
    `set suppress-cli-notifications on` (no "[Switching to inferior ...]" or frame lines, which gdb 13
    prints even when a command's output is captured)."""

    SETTINGS = (("confirm", False), ("suppress-cli-notifications", True))

    def __enter__(self):
        self.saved = []
        for name, value in self.SETTINGS:
            try:
                self.saved.append((name, gdb.parameter(name)))
                gdb.execute("set %s %s" % (name, "on" if value else "off"), False, True)
            except gdb.error:
                pass
        return self

    def __exit__(self, *exc):
        for name, value in reversed(self.saved):
            try:
                gdb.execute("set %s %s" % (name, "on" if value else "off"), False, True)
            except gdb.error:
                pass
        return False


# --------------------------------------------------------------------------------------------------
# The helper and its JSON-RPC connection


class HelperError(gdb.GdbError):
    """The helper answered a request with a JSON-RPC error; the message is the helper's, verbatim."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Helper:
    """The helper process and a minimal JSON-RPC 2.0 client over its stdio."""

    def __init__(self, project):
        self.project = project
        node = os.environ.get("CRIU_GDB_NODE") or shutil.which("node")
        main = os.path.join(project, "dist", "src", "rpc", "main.js")
        if not node:
            raise gdb.GdbError("criu-gdb needs Node.js 20 or newer on PATH: node was not found (then run npm install in %s)" % project)
        if not os.path.isfile(main):
            raise gdb.GdbError("the criu-gdb helper is not built: run npm install in %s" % project)
        # stderr goes to an anonymous temporary file, read back for error messages.
        self.stderr = tempfile.TemporaryFile(prefix="criu-gdb-helper-")
        try:
            # A session of its own: Ctrl-C in gdb must not reach the helper.
            self.process = subprocess.Popen(
                [node, main], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                bufsize=0, close_fds=True, start_new_session=True)
        except OSError as error:
            self.stderr.close()
            raise gdb.GdbError("cannot start the criu-gdb helper (%s): %s" % (node, error.strerror or error))
        self.buffer = b""
        self.next_id = 1
        self.dead_message = None
        self.unresponsive = False

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.dead_message is None and self.process.poll() is None

    def last_stderr_line(self):
        try:
            self.stderr.flush()
            size = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, size - 4096))
            tail = self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def exit_error(self):
        """The error for a helper that is gone: its last stderr line, or how it ended."""
        if self.dead_message is None:
            try:
                status = self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                status = None
            line = self.last_stderr_line()
            if not line:
                if status is None:
                    line = "it closed its output"
                elif status < 0:
                    try:
                        line = "killed by %s" % signal.Signals(-status).name
                    except ValueError:
                        line = "killed by signal %d" % -status
                else:
                    line = "exit status %d" % status
            self.dead_message = "criu-gdb helper exited: %s" % line
        return gdb.GdbError(self.dead_message)

    def _send(self, message):
        body = json.dumps(message).encode("utf-8")
        data = b"Content-Length: %d\r\n\r\n" % len(body) + body
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise self.exit_error()

    def _read_message(self, deadline):
        """The next message, or None at the deadline. Raises when the helper is gone."""
        fd = self.process.stdout.fileno()
        while True:
            header_end = self.buffer.find(b"\r\n\r\n")
            if header_end >= 0:
                length = None
                for line in self.buffer[:header_end].split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        try:
                            length = int(value.strip())
                        except ValueError:
                            pass
                if length is None:
                    self.kill()
                    raise gdb.GdbError("criu-gdb helper sent a message without Content-Length")
                start = header_end + 4
                if len(self.buffer) >= start + length:
                    body = self.buffer[start:start + length]
                    self.buffer = self.buffer[start + length:]
                    try:
                        return json.loads(body.decode("utf-8"))
                    except ValueError:
                        self.kill()
                        raise gdb.GdbError("criu-gdb helper sent malformed JSON")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                ready, _, _ = select.select([fd], [], [], min(remaining, 0.25))
            except (OSError, ValueError) as error:
                if getattr(error, "errno", None) == errno.EINTR:
                    continue
                raise self.exit_error()
            if not ready:
                if self.process.poll() is not None and not self._readable(fd):
                    raise self.exit_error()
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise self.exit_error()
            self.buffer += chunk

    @staticmethod
    def _readable(fd):
        try:
            ready, _, _ = select.select([fd], [], [], 0)
            return bool(ready)
        except (OSError, ValueError):
            return False

    def request(self, method, params=None, timeout=None, progress=None):
        """Sends a request and returns its result. Errors: HelperError (the helper's message), helper
        exit, timeout, interruption: all gdb.GdbError with one line."""
        if self.dead_message is not None:
            raise gdb.GdbError(self.dead_message)
        timeout = _timeout(DEFAULT_TIMEOUT) if timeout is None else timeout
        request_id = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        deadline = time.monotonic() + timeout
        try:
            while True:
                reply = self._read_message(deadline)
                if reply is None:
                    self.unresponsive = True
                    raise gdb.GdbError("criu-gdb helper did not answer '%s' within %g seconds" % (method, timeout))
                if not isinstance(reply, dict):
                    continue
                if "method" in reply and "id" not in reply:
                    if reply.get("method") == "progress":
                        deadline = time.monotonic() + timeout
                        if progress is not None:
                            params_ = reply.get("params")
                            if isinstance(params_, dict) and isinstance(params_.get("message"), str):
                                progress(params_["message"])
                    continue
                if reply.get("id") != request_id:
                    continue  # a late answer to a request that timed out or was interrupted
                if "error" in reply:
                    error = reply["error"] if isinstance(reply["error"], dict) else {}
                    raise HelperError(_one_line(error.get("message", "")) or "criu-gdb helper: %s failed" % method, error.get("code"))
                return reply.get("result")
        except KeyboardInterrupt:
            raise gdb.GdbError("interrupted (criu-gdb helper request '%s')" % method)

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def stop(self, timeout=STOP_TIMEOUT):
        """Asks the helper to close and exit, and waits for it; kills it if it does not. A helper that
        already failed to answer is only given a moment after its stdin closes."""
        graceful = self.process.poll() is None and self.dead_message is None and not self.unresponsive
        if graceful:
            try:
                self.request("shutdown", timeout=timeout)
                self.notify("exit")
            except gdb.GdbError:
                graceful = False
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout if graceful else 1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_files()

    def kill(self):
        if self.process.poll() is None:
            try:
                self.process.terminate()
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _close_files(self):
        for stream in (self.process.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------------
# Sessions: one loaded checkpoint, its helper and its inferiors


class Session:
    """A loaded checkpoint."""

    def __init__(self, helper, path, root):
        self.helper = helper
        self.path = path
        self.root = root
        self.processes = []  # what `open` returned
        self.directory = None
        # inferior number -> {"pid", "created"}: created means added by criu-load (removed by criu-unload)
        self.inferiors = {}
        self.original = gdb.selected_inferior().num
        self.warned_dead = False

    def owns(self, inferior):
        """Whether `inferior` is a live checkpoint inferior of this session."""
        entry = self.inferiors.get(inferior.num)
        return entry is not None and inferior.is_valid() and inferior.pid != 0

    def pid_of(self, inferior):
        entry = self.inferiors.get(inferior.num)
        return entry["pid"] if entry is not None else None


_session = None


def _inferior(num):
    for inferior in gdb.inferiors():
        if inferior.num == num:
            return inferior
    return None


def _switch(num):
    if gdb.selected_inferior().num != num:
        _execute("inferior %d" % num)


def _release_inferiors(session):
    """Disconnects every inferior of the session, removes the ones criu-load added, returns to the user's
    inferior. Best effort: problems are reported as warnings, never raised."""
    problems = []
    with _Quiet():
        # `detach`, not `disconnect`: gdb 13's disconnect command also clears the thread list of every
        # other inferior (init_thread_list), which would strand the remaining connections.
        for phase in ("detach", "disconnect"):
            for num, entry in sorted(session.inferiors.items()):
                inferior = _inferior(num)
                if inferior is None:
                    continue
                try:
                    if phase == "detach" and inferior.pid != 0:
                        _switch(num)
                        _execute("detach")
                    elif phase == "disconnect" and inferior.connection_num is not None:
                        _switch(num)
                        _execute("disconnect")
                except gdb.GdbError as error:
                    # With the helper gone, the connection fails, and gdb drops it: that is the goal.
                    if session.helper.alive():
                        problems.append("inferior %d: %s" % (num, error))
        for num, entry in sorted(session.inferiors.items()):
            if not entry["created"] and _inferior(num) is not None:
                try:
                    _switch(num)
                    _execute("file")  # forget the checkpoint's executable and symbols
                except gdb.GdbError as error:
                    problems.append("inferior %d: %s" % (num, error))
        keep = _inferior(session.original)
        if keep is None or session.inferiors.get(session.original, {}).get("created"):
            keep = next((i for i in gdb.inferiors() if not session.inferiors.get(i.num, {}).get("created")), None)
        if keep is not None:
            try:
                _switch(keep.num)
            except gdb.GdbError as error:
                problems.append(str(error))
        for num, entry in sorted(session.inferiors.items()):
            if entry["created"] and _inferior(num) is not None and (keep is None or keep.num != num):
                try:
                    _execute("remove-inferiors %d" % num)
                except gdb.GdbError as error:
                    problems.append("inferior %d: %s" % (num, error))
    session.inferiors.clear()
    return problems


def _remove_stale_directory(session):
    """A helper that was killed could not remove its socket directory: remove it for it."""
    directory = session.directory
    if directory and os.path.basename(directory).startswith("criu-gdb-") and os.path.isdir(directory):
        shutil.rmtree(directory, ignore_errors=True)


def _unload(quiet=False):
    """Ends the current session, if any. Returns whether there was one."""
    global _session
    session = _session
    if session is None:
        return False
    _session = None
    problems = _release_inferiors(session)
    session.helper.stop()
    _remove_stale_directory(session)
    for problem in problems:
        gdb.write("warning: criu-unload: %s\n" % problem)
    if not quiet:
        gdb.write("criu-unload: closed %s\n" % session.path)
    return True


def _require_session():
    if _session is None:
        raise gdb.GdbError("no checkpoint is loaded (use criu-load DIR)")
    return _session


def _helper_request(method, params=None):
    session = _require_session()
    try:
        return session.helper.request(method, params)
    except HelperError:
        raise
    except gdb.GdbError as error:
        if not session.helper.alive():
            raise gdb.GdbError("%s (criu-unload cleans up; criu-load starts again)" % error)
        raise


# --------------------------------------------------------------------------------------------------
# Read-only enforcement: hooks on the commands that would run the process


class CheckWritable(gdb.Function):
    """$_criu_check_writable(COMMAND): fails when the current inferior is a CRIU checkpoint (used by the
    hooks criu-load installs on continue, step, run, kill...)."""

    def __init__(self):
        super().__init__(CHECK_FUNCTION)

    def invoke(self, command=None):
        session = _session
        if session is None:
            return 0
        inferior = gdb.selected_inferior()
        if not session.owns(inferior):
            return 0
        name = command.string() if command is not None else "this command"
        raise gdb.GdbError("%s: '%s' is refused for pid %d (criu-unload ends the session)" % (
            READ_ONLY_MESSAGE, name, session.pid_of(inferior)))


def _user_hook_body(name):
    """The body of an existing user-defined hook-NAME, as lines, or None."""
    try:
        text = gdb.execute("show user hook-%s" % name, False, True)
    except gdb.error:
        return None
    lines = text.splitlines()
    if not lines or not lines[0].startswith("User command"):
        return None
    body = [line[2:] if line.startswith("  ") else line for line in lines[1:]]
    while body and not body[-1].strip():
        body.pop()
    return body


def _install_hooks():
    """Defines hook-COMMAND for each run-like command: our check first, then any hook the user had."""
    check = "if $%s(\"%%s\")\nend" % CHECK_FUNCTION
    with _Quiet():
        for name in RUN_COMMANDS:
            body = _user_hook_body(name) or []
            if any(CHECK_FUNCTION in line for line in body):
                continue
            definition = "define hook-%s\n%s\n%s%send" % (name, check % name, "\n".join(body), "\n" if body else "")
            try:
                gdb.execute(definition, False, True)
            except gdb.error as error:
                gdb.write("warning: criu-gdb: cannot hook '%s': %s\n" % (name, _one_line(error)))


# --------------------------------------------------------------------------------------------------
# Commands


def _guard(function):
    """Runs a command body so that every failure is one gdb.GdbError line, never a traceback."""

    def wrapper(*args):
        try:
            return function(*args)
        except gdb.GdbError:
            raise
        except gdb.error as error:
            raise gdb.GdbError(_one_line(error))
        except KeyboardInterrupt:
            raise gdb.GdbError("interrupted")
        except Exception as error:  # a defect: still one line
            raise gdb.GdbError("criu-gdb: internal error: %s: %s" % (type(error).__name__, _one_line(error)))

    return wrapper


def _check_gdb_version():
    match = re.match(r"(\d+)", gdb.VERSION)
    if match is None or int(match.group(1)) < MIN_GDB_MAJOR:
        raise gdb.GdbError("criu-load needs gdb %d or newer (this is gdb %s)" % (MIN_GDB_MAJOR, gdb.VERSION))


def _parse_options(argv, spec, usage):
    """Splits argv into (options, positionals). spec maps option name -> takes a value."""
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


LOAD_USAGE = "criu-load DIR [--root PATH] [--pid N]"


class CriuLoad(gdb.Command):
    """Open a CRIU checkpoint: every process becomes an inferior, read-only.

Usage: criu-load DIR [--root PATH] [--pid N]

DIR is a CRIU images directory. --root PATH is where the checkpointed processes' files live (default /):
executables, libraries and file-backed pages are read from there. --pid N loads only that process.

The first process goes into the current inferior (or a new one if the current inferior is in use), each
further process into an inferior of its own. A second criu-load replaces the first. The processes cannot
be resumed: continue, step, run, kill and the like fail with "the checkpoint is read-only".
Use criu-unload to close the checkpoint, and "help criu" for its views (ps, fds, maps, info, search)."""

    def __init__(self, name="criu-load"):
        super().__init__(name, gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        _guard(self._load)(argument)

    def _load(self, argument):
        global _session
        _check_gdb_version()
        options, positionals = _parse_options(gdb.string_to_argv(argument), {"root": True, "pid": True}, LOAD_USAGE)
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

        if _session is not None:
            _unload(quiet=True)

        started = time.monotonic()

        def progress(message):
            if time.monotonic() - started > 1.0:
                gdb.write("criu-load: %s\n" % message)
                gdb.flush()

        helper = Helper(_project_root())
        session = Session(helper, path, root)
        try:
            params = {"path": path}
            if root is not None:
                params["root"] = root
            if pid is not None:
                params["pid"] = pid
            result = helper.request("open", params, timeout=_timeout(OPEN_TIMEOUT), progress=progress)
            if not isinstance(result, dict) or not isinstance(result.get("processes"), list) or not result["processes"]:
                raise gdb.GdbError("criu-gdb helper returned no processes for %s" % given)
            session.processes = result["processes"]
            session.directory = result.get("directory")
            _install_hooks()
            _session = session
            self._connect(session, progress)
        except BaseException:
            if _session is session:
                _session = None
                _release_inferiors(session)
            helper.stop()
            raise

        first = min(session.inferiors)
        for num in sorted(session.inferiors):
            info = next(p for p in session.processes if p["pid"] == session.inferiors[num]["pid"])
            threads = len(info.get("threads") or [])
            gdb.write("inferior %d: pid %d (%s), %d thread%s\n" % (num, info["pid"], info.get("comm", ""), threads, "" if threads == 1 else "s"))
        for warning in result.get("warnings") or []:
            gdb.write("warning: %s\n" % warning)
        # Switch back to the first process, showing where it stopped.
        gdb.execute("inferior %d" % first, False, False)

    @staticmethod
    def _connect(session, progress):
        """One inferior per process, connected to its socket."""
        with _Quiet():
            current = gdb.selected_inferior()
            reuse = current.pid == 0 and current.connection_num is None
            for index, process in enumerate(session.processes):
                if index == 0 and reuse:
                    num, created = current.num, False
                else:
                    before = {i.num for i in gdb.inferiors()}
                    _execute("add-inferior -no-connection")
                    added = [i.num for i in gdb.inferiors() if i.num not in before]
                    if not added:
                        raise gdb.GdbError("add-inferior did not add an inferior")
                    num, created = added[0], True
                session.inferiors[num] = {"pid": process["pid"], "created": created}
                _switch(num)
                if len(session.processes) > 1:
                    progress("connecting inferior %d to pid %d (%d/%d)" % (num, process["pid"], index + 1, len(session.processes)))
                try:
                    _execute("target remote %s" % process["socket"])
                except gdb.GdbError as error:
                    raise gdb.GdbError("pid %d: %s" % (process["pid"], error))
                if not session.helper.alive():
                    raise session.helper.exit_error()

    def complete(self, text, word):
        return _complete_paths(text, word, ("--root", "--pid"))


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


class CriuUnload(gdb.Command):
    """Close the CRIU checkpoint that criu-load opened.

Usage: criu-unload

Disconnects every inferior of the checkpoint, removes the inferiors criu-load added, and stops the
criu-gdb helper, which removes its sockets."""

    def __init__(self, name="criu-unload"):
        super().__init__(name, gdb.COMMAND_FILES)

    def invoke(self, argument, from_tty):
        _guard(self._unload)(argument)

    @staticmethod
    def _unload(argument):
        if argument.strip():
            raise gdb.GdbError("criu-unload takes no arguments")
        if not _unload():
            raise gdb.GdbError("no checkpoint is loaded")


class CriuPrefix(gdb.Command):
    """Look at the loaded CRIU checkpoint.

criu-load DIR [--root PATH] [--pid N] opens a checkpoint (one inferior per process, read-only) and
criu-unload closes it; "criu load" and "criu unload" are the same commands.
Without a subcommand, "criu" shows what is loaded. Subcommands:"""

    def __init__(self):
        super().__init__("criu", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, True)

    def invoke(self, argument, from_tty):
        _guard(self._status)(argument)

    @staticmethod
    def _status(argument):
        if argument.strip():
            raise gdb.GdbError('Undefined criu command: "%s".  Try "help criu".' % argument.strip().split()[0])
        session = _session
        if session is None:
            gdb.write("no checkpoint is loaded (use criu-load DIR)\n")
            return
        state = "" if session.helper.alive() else " (the helper has exited: criu-unload cleans up)"
        gdb.write("checkpoint %s%s\n" % (session.path, state))
        for num in sorted(session.inferiors):
            inferior = _inferior(num)
            connected = inferior is not None and inferior.pid != 0
            gdb.write("  inferior %d: pid %d%s\n" % (num, session.inferiors[num]["pid"], "" if connected else " (disconnected)"))


def _current_pid():
    """The checkpoint pid of the current inferior, or None when it is not a checkpoint inferior."""
    session = _session
    if session is None:
        return None
    inferior = gdb.selected_inferior()
    return session.pid_of(inferior) if inferior.num in session.inferiors else None


class _View(gdb.Command):
    """Base of criu ps/fds/maps/info."""

    view = ""
    per_process = False

    def __init__(self):
        super().__init__("criu %s" % self.view, gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        _guard(self._run)(argument)

    def _run(self, argument):
        spec = {"json": False}
        usage = "criu %s [--json]" % self.view
        if self.per_process:
            spec.update({"all": False, "pid": True})
            usage = "criu %s [--all | --pid N] [--json]" % self.view
        options, positionals = _parse_options(gdb.string_to_argv(argument), spec, usage)
        if positionals:
            raise gdb.GdbError("unexpected argument: %s; usage: %s" % (positionals[0], usage))
        params = {"name": self.view}
        if options.get("json"):
            params["json"] = True
        if self.per_process:
            pid = _int_option(options, "pid")
            if pid is None and not options.get("all"):
                pid = _current_pid()
            if pid is not None:
                params["pid"] = pid
        result = _helper_request("view", params)
        text = result.get("text", "") if isinstance(result, dict) else ""
        gdb.write(text + ("\n" if text and not text.endswith("\n") else ""))


class CriuPs(_View):
    """The process tree of the checkpoint: pid, ppid, state, command line and every thread with its name.

Usage: criu ps [--json]"""

    view = "ps"


class CriuFds(_View):
    """Open files of the current inferior's process: names as /proc/PID/fd showed them, sockets, pipes.

Usage: criu fds [--all | --pid N] [--json]
Default: the process of the current inferior (every process when it is not a checkpoint inferior)."""

    view = "fds"
    per_process = True


class CriuMaps(_View):
    """Memory maps of the current inferior's process, with where each page comes from.

Usage: criu maps [--all | --pid N] [--json]
Columns count pages: present in the images, in a parent dump, lazy, zero, from the file, missing.
Default: the process of the current inferior (every process when it is not a checkpoint inferior)."""

    view = "maps"
    per_process = True


class CriuInfo(_View):
    """Summary of the checkpoint: image version, architecture, processes, threads, memory, namespaces.

Usage: criu info [--json]"""

    view = "info"


SEARCH_USAGE = "criu search [--hex | --regex [--ignore-case]] [--all | --pid N] [--limit N] [--context N] PATTERN"


class CriuSearch(gdb.Command):
    """Find a string or bytes in the memory of the checkpoint.

Usage: criu search STRING
       criu search --hex BYTES          e.g. criu search --hex "de ad be ef"
       criu search --regex EXPRESSION   e.g. criu search --regex "password=\\w+" (a JavaScript regular
                                        expression over the bytes; --ignore-case for either case)
Options: --all (every process; default: the current inferior's), --pid N, --limit N (default 100),
--context N (bytes shown around each match, default 16).
Prints "PID ADDRESS  MAPPING  |context|" per match; ADDRESS works with x, e.g. x/s ADDRESS.
Only bytes the checkpoint holds are searched."""

    def __init__(self):
        super().__init__("criu search", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        _guard(self._run)(argument)

    @staticmethod
    def _run(argument):
        options, positionals = _parse_options(
            gdb.string_to_argv(argument),
            {"hex": False, "regex": False, "ignore-case": False, "all": False, "pid": True, "limit": True, "context": True},
            SEARCH_USAGE)
        if not positionals:
            raise gdb.GdbError("usage: %s" % SEARCH_USAGE)
        params = {"pattern": " ".join(positionals)}
        if options.get("hex"):
            params["hex"] = True
        if options.get("regex"):
            params["regex"] = True
        if options.get("ignore-case"):
            params["ignoreCase"] = True
        pid = _int_option(options, "pid")
        if pid is None and not options.get("all"):
            pid = _current_pid()
        if pid is not None:
            params["pid"] = pid
        limit = _int_option(options, "limit")
        if limit is not None:
            params["limit"] = limit
        if options.get("context") is not None:
            try:
                params["context"] = int(options["context"], 0)
            except ValueError:
                raise gdb.GdbError("--context needs a number")
        result = _helper_request("search", params)
        text = result.get("text", "") if isinstance(result, dict) else ""
        gdb.write(text + "\n")


COREDUMP_USAGE = "criu coredump [--pid N] [DIR]"
# Seconds without progress from the helper before a coredump request is given up.
COREDUMP_TIMEOUT = 120.0


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
        _guard(self._run)(argument)

    @staticmethod
    def _run(argument):
        options, positionals = _parse_options(gdb.string_to_argv(argument), {"pid": True}, COREDUMP_USAGE)
        if len(positionals) > 1:
            raise gdb.GdbError("unexpected argument: %s; usage: %s" % (positionals[1], COREDUMP_USAGE))
        session = _require_session()
        params = {"directory": _expand(positionals[0]) if positionals else os.getcwd()}
        pid = _int_option(options, "pid")
        if pid is not None:
            params["pid"] = pid

        def progress(message):
            gdb.write("criu coredump: %s\n" % message)
            gdb.flush()

        try:
            result = session.helper.request("coredump", params, timeout=_timeout(COREDUMP_TIMEOUT), progress=progress)
        except HelperError:
            raise
        except gdb.GdbError as error:
            if not session.helper.alive():
                raise gdb.GdbError("%s (criu-unload cleans up; criu-load starts again)" % error)
            raise
        text = result.get("text", "") if isinstance(result, dict) else ""
        gdb.write(text + ("\n" if text and not text.endswith("\n") else ""))
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


# --------------------------------------------------------------------------------------------------
# Registration


_registered = False


def _before_prompt():
    """Tells the user once, at the next prompt, that the helper has gone away."""
    session = _session
    if session is None or session.warned_dead or session.helper.alive():
        return
    session.warned_dead = True
    try:
        message = str(session.helper.exit_error())
    except Exception:  # never disturb the prompt
        message = "criu-gdb helper exited"
    gdb.write("warning: %s; the checkpoint's inferiors have lost their connection (criu-unload cleans up)\n" % message)


def _on_gdb_exiting(_event):
    """gdb is exiting: detach the checkpoint's inferiors and stop the helper, waiting for it, so that its
    sockets and directory are gone before gdb is. Nothing may stop gdb from exiting."""
    try:
        with _Quiet():
            _unload(quiet=True)
    except Exception:  # noqa: BLE001 - exiting anyway
        pass


def register():
    """Registers the commands once per gdb (sourcing the file again changes nothing)."""
    global _registered
    if _registered:
        return
    _registered = True
    CheckWritable()
    CriuLoad()
    CriuUnload()
    CriuPrefix()
    CriuLoadAlias()
    CriuUnloadAlias()
    CriuPs()
    CriuFds()
    CriuMaps()
    CriuInfo()
    CriuSearch()
    CriuCoredump()
    gdb.events.before_prompt.connect(_before_prompt)
    if hasattr(gdb.events, "gdb_exiting"):
        gdb.events.gdb_exiting.connect(_on_gdb_exiting)


if __name__ == "__main__":
    # Sourced by gdb: import this file as the module `criu_gdb`, so that state survives a second `source`
    # and every command is registered once.
    _here = os.path.dirname(os.path.realpath(__file__))
    if _here not in sys.path:
        sys.path.insert(0, _here)
    _saved_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ next to the plugin
    try:
        import criu_gdb
    finally:
        sys.dont_write_bytecode = _saved_bytecode
    criu_gdb.register()
    del _here, _saved_bytecode
