# The criu-gdb helper process and a minimal JSON-RPC 2.0 client over its stdin and stdout
# (Content-Length framing, written here by hand).
#
# This module does not import gdb, so that it can be tested with a plain Python 3. Every failure is a
# ClientError whose message is one line; HelperError is the helper's own JSON-RPC error, verbatim.

import errno
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

# Seconds of silence from the helper before a request is given up (progress notifications reset it).
DEFAULT_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class ClientError(Exception):
    """A request failed: the helper is gone, did not answer, sent garbage, or was interrupted."""


class HelperError(ClientError):
    """The helper answered a request with a JSON-RPC error; the message is the helper's, verbatim."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def one_line(text):
    """The first non-empty line of text, stripped ("" when there is none)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def timeout_setting(default):
    """$CRIU_GDB_TIMEOUT in seconds when it is a number, else default."""
    value = os.environ.get("CRIU_GDB_TIMEOUT")
    try:
        return float(value) if value else default
    except ValueError:
        return default


def helper_command(project):
    """[node, main.js] of the helper of the criu-gdb checkout or package at project."""
    node = os.environ.get("CRIU_GDB_NODE") or shutil.which("node")
    main = os.path.join(project, "dist", "src", "rpc", "main.js")
    if not node:
        raise ClientError("criu-gdb needs Node.js 20 or newer: node is not on PATH (install it, or set CRIU_GDB_NODE to the node program)")
    if not os.path.isfile(main):
        if os.path.isfile(os.path.join(project, "tsconfig.json")):
            raise ClientError("the criu-gdb helper is not built: run npm install in %s" % project)
        raise ClientError("the criu-gdb package in %s has no helper (dist/src/rpc/main.js): install it again" % project)
    return [node, main]


# A helper started by the launcher (`criu-gdb DIR`) before gdb, so that node starts while gdb does: gdb
# inherits its stdin, stdout and stderr file as descriptors 3, 4 and 5, and $CRIU_GDB_HELPER is its pid.
LAUNCHER_HELPER_VARIABLE = "CRIU_GDB_HELPER"
LAUNCHER_HELPER_FDS = (3, 4, 5)


class LauncherProcess:
    """The launcher's helper, with the part of subprocess.Popen's interface Helper uses. It is the
    launcher's child, not gdb's: it is watched with signal 0 and ends when its stdin closes."""

    def __init__(self, pid, stdin, stdout):
        self.pid = pid
        self.stdin = os.fdopen(stdin, "wb", buffering=0)
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                with open("/proc/%d/stat" % self.pid, "rb") as f:
                    gone = f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
            except OSError:
                gone = True
            if gone:
                self.returncode = 0
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("criu-gdb helper", timeout)
            time.sleep(0.01)
        return self.returncode

    def terminate(self):
        self._signal(signal.SIGTERM)

    def kill(self):
        self._signal(signal.SIGKILL)

    def _signal(self, number):
        try:
            os.kill(self.pid, number)
        except OSError:
            pass


_launcher_helper = None


def claim_launcher_helper(environ):
    """Takes the launcher's helper descriptors (once, at plugin load), so that nothing gdb starts inherits
    them; returns whether there is one. A variable without its descriptors is ignored."""
    global _launcher_helper
    value = environ.pop(LAUNCHER_HELPER_VARIABLE, None)
    if _launcher_helper is not None or not value or not value.isdigit():
        return _launcher_helper is not None
    try:
        for fd in LAUNCHER_HELPER_FDS:
            os.fstat(fd)
            os.set_inheritable(fd, False)
    except OSError:
        return False
    _launcher_helper = int(value)
    return True


def take_launcher_helper():
    """The launcher's helper as a Helper, the first time only; None when there is none (or it is used)."""
    global _launcher_helper
    pid, _launcher_helper = _launcher_helper, None
    if pid is None:
        return None
    stdin, stdout, stderr = LAUNCHER_HELPER_FDS
    return Helper(None, process=LauncherProcess(pid, stdin, stdout), stderr=os.fdopen(stderr, "rb"))


def helper_environment(environ):
    """The helper's environment: environ without NODE_EXTRA_CA_CERTS unless DEBUGINFOD_URLS names an https
    server. Node reads that whole certificate bundle at start-up (60-70 ms of every criu-load, measured),
    and the helper's only TLS connections are to https debuginfod servers."""
    env = dict(environ)
    env.pop(LAUNCHER_HELPER_VARIABLE, None)
    urls = env.get("DEBUGINFOD_URLS", "").split()
    if "NODE_EXTRA_CA_CERTS" in env and not any(url.lower().startswith("https://") for url in urls):
        del env["NODE_EXTRA_CA_CERTS"]
    return env


class Helper:
    """The helper process and a JSON-RPC 2.0 client over its stdio."""

    def __init__(self, command, environ=None, process=None, stderr=None):
        self.buffer = b""
        self.next_id = 1
        self.dead_message = None
        self.unresponsive = False
        if process is not None:
            self.process, self.stderr = process, stderr
            return
        # stderr goes to an anonymous temporary file, read back for error messages.
        self.stderr = tempfile.TemporaryFile(prefix="criu-gdb-helper-")
        try:
            # A session of its own: Ctrl-C in gdb must not reach the helper.
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                bufsize=0, close_fds=True, start_new_session=True,
                env=helper_environment(os.environ if environ is None else environ))
        except OSError as error:
            self.stderr.close()
            raise ClientError("cannot start the criu-gdb helper (%s): %s" % (command[0], error.strerror or error))

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
        return ClientError(self.dead_message)

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
                    raise ClientError("criu-gdb helper sent a message without Content-Length")
                start = header_end + 4
                if len(self.buffer) >= start + length:
                    body = self.buffer[start:start + length]
                    self.buffer = self.buffer[start + length:]
                    try:
                        return json.loads(body.decode("utf-8"))
                    except ValueError:
                        self.kill()
                        raise ClientError("criu-gdb helper sent malformed JSON")
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
        """Sends a request and returns its result. Every failure is a ClientError with one line:
        HelperError for the helper's own error; helper exit, timeout or interruption otherwise."""
        if self.dead_message is not None:
            raise ClientError(self.dead_message)
        timeout = timeout_setting(DEFAULT_TIMEOUT) if timeout is None else timeout
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
                    self.cancel(request_id)
                    raise ClientError("criu-gdb helper did not answer '%s' within %g seconds" % (method, timeout))
                if not isinstance(reply, dict):
                    continue
                if "method" in reply and "id" not in reply:
                    if reply.get("method") == "progress":
                        deadline = time.monotonic() + timeout
                        if progress is not None:
                            notice = reply.get("params")
                            if isinstance(notice, dict) and isinstance(notice.get("message"), str):
                                progress(notice["message"])
                    continue
                if reply.get("id") != request_id:
                    continue  # a late answer to a request that timed out or was interrupted
                if "error" in reply:
                    error = reply["error"] if isinstance(reply["error"], dict) else {}
                    raise HelperError(one_line(error.get("message", "")) or "criu-gdb helper: %s failed" % method, error.get("code"))
                return reply.get("result")
        except KeyboardInterrupt:
            self.cancel(request_id)
            raise ClientError("interrupted (criu-gdb helper request '%s')" % method)

    def cancel(self, request_id):
        """Asks the helper to stop the work of a request given up (Ctrl-C, timeout); its late answer is
        then ignored. Quietly does nothing when the helper is gone."""
        try:
            self.notify("$/cancelRequest", {"id": request_id})
        except ClientError:
            pass

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
            except ClientError:
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
