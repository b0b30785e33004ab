# Read-only enforcement: hooks on the commands that would run the process.

import gdb

from .gdbutil import Quiet
from .rpc import one_line

READ_ONLY_MESSAGE = "the checkpoint is read-only"
# Commands that would run, step, signal or kill the process; hooked to fail on checkpoint inferiors.
RUN_COMMANDS = (
    "continue", "step", "next", "stepi", "nexti", "finish", "until", "advance", "jump",
    "run", "start", "starti", "signal", "kill",
)
CHECK_FUNCTION = "_criu_check_writable"


class CheckWritable(gdb.Function):
    """$_criu_check_writable(COMMAND): fails when the current inferior is a CRIU checkpoint (used by the
    hooks criu-load installs on continue, step, run, kill...). current_session() is the loaded checkpoint,
    or None."""

    def __init__(self, current_session):
        super().__init__(CHECK_FUNCTION)
        self.current_session = current_session

    def invoke(self, command=None):
        session = self.current_session()
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


def install_hooks():
    """Defines hook-COMMAND for each run-like command: our check first, then any hook the user had."""
    check = "if $%s(\"%%s\")\nend" % CHECK_FUNCTION
    with Quiet():
        for name in RUN_COMMANDS:
            body = _user_hook_body(name) or []
            if any(CHECK_FUNCTION in line for line in body):
                continue
            definition = "define hook-%s\n%s\n%s%send" % (name, check % name, "\n".join(body), "\n" if body else "")
            try:
                gdb.execute(definition, False, True)
            except gdb.error as error:
                gdb.write("warning: criu-gdb: cannot hook '%s': %s\n" % (name, one_line(error)))
