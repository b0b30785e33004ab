# Registers the plugin's commands, functions and event handlers, once per gdb.

import gdb

import os

from . import commands, hooks, rpc
from . import session as sessions
from .gdbutil import Quiet, execute

_registered = False


def _before_prompt():
    """Tells the user once, at the next prompt, that the helper has gone away."""
    session = sessions.current
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
        with Quiet():
            sessions.unload(quiet=True)
    except Exception:  # noqa: BLE001 - exiting anyway
        pass


def register():
    """Registers the commands once per gdb (sourcing the plugin again changes nothing)."""
    global _registered
    if _registered:
        return
    _registered = True
    if rpc.claim_launcher_helper(os.environ):
        # Programs gdb runs (inferiors, `shell`) must not see the launcher's helper either.
        with Quiet():
            execute("unset environment %s" % rpc.LAUNCHER_HELPER_VARIABLE)
    hooks.CheckWritable(lambda: sessions.current)
    commands.CriuLoad()
    commands.CriuUnload()
    commands.CriuPrefix()
    commands.CriuLoadAlias()
    commands.CriuUnloadAlias()
    commands.CriuCoredump()
    commands.register_commands_at_start()
    gdb.events.before_prompt.connect(_before_prompt)
    if hasattr(gdb.events, "gdb_exiting"):
        gdb.events.gdb_exiting.connect(_on_gdb_exiting)
