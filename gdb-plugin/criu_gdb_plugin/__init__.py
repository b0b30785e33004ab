# criu-gdb's gdb plugin as a package: gdb-plugin/criu_gdb.py (the file users source) imports it and calls
# register(). Modules: rpc (the helper and its JSON-RPC client; it does not import gdb, so it loads in a
# plain Python), gdbutil, session (the loaded checkpoint and its inferiors), hooks (read-only enforcement),
# commands, plugin (registration and gdb events).


def register():
    """Registers the plugin's commands in gdb, once."""
    from . import plugin

    plugin.register()
