# Small helpers over gdb's API: running commands quietly, one-line errors.

import gdb

from .rpc import ClientError, one_line


def execute(command, quiet=True):
    """Runs a gdb command; its output is returned when quiet. gdb errors become gdb.GdbError."""
    try:
        return gdb.execute(command, False, quiet)
    except gdb.GdbError:
        raise
    except gdb.error as error:
        raise gdb.GdbError(one_line(error) or "%s failed" % command)
    except UnicodeDecodeError as error:
        # The command ran; only its captured output is not text (`set debug remote 1` logs raw packets).
        return error.object.decode(error.encoding, "replace")


class Quiet:
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


def inferior(num):
    """The inferior numbered num, or None."""
    for candidate in gdb.inferiors():
        if candidate.num == num:
            return candidate
    return None


def switch(num):
    """Makes inferior num the current one."""
    if gdb.selected_inferior().num != num:
        execute("inferior %d" % num)


def guard(function):
    """Runs a command body so that every failure is one gdb.GdbError line, never a traceback."""

    def wrapper(*args):
        try:
            return function(*args)
        except gdb.GdbError:
            raise
        except ClientError as error:
            raise gdb.GdbError(str(error))
        except gdb.error as error:
            raise gdb.GdbError(one_line(error))
        except KeyboardInterrupt:
            raise gdb.GdbError("interrupted")
        except Exception as error:  # a defect: still one line
            raise gdb.GdbError("criu-gdb: internal error: %s: %s" % (type(error).__name__, one_line(error)))

    return wrapper


def write_text(text):
    """Writes text with exactly one final newline (nothing for empty text)."""
    if text:
        gdb.write(text + ("" if text.endswith("\n") else "\n"))
