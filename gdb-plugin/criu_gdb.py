# criu-gdb's gdb plugin: open a CRIU checkpoint in gdb, one inferior per process, read-only.
#
# Load it with `source /path/to/gdb-plugin/criu_gdb.py` (from any directory, or from ~/.gdbinit: see
# `criu-gdb gdbinit --install`). It registers:
#
#   criu-load DIR [--root PATH] [--pid N]   open a checkpoint (replaces one already open)
#   criu-unload                             close it
#   criu ps|fds|maps|info|search ...        views of the checkpoint (`help criu`), defined by the helper
#   criu coredump [--pid N] [DIR]           ELF core files of the processes (core.PID)
#
# How it works: criu-load starts the criu-gdb helper (`node <project>/dist/src/rpc/main.js`) and talks
# JSON-RPC 2.0 with it over the helper's stdin and stdout. The helper serves each process of the
# checkpoint with gdb's remote protocol on its own Unix socket in a private directory, and the plugin
# connects one inferior per process with `target remote SOCKET`. The `criu NAME` views are the helper's:
# their names, help and options come from it, and their arguments go to it as typed.
#
# The code is the package criu_gdb_plugin next to this file. Only gdb's Python API and the standard
# library are used. Every failure is a gdb.GdbError with one line.

import os
import sys



def _plugin_directory():
    """This file's directory. Not from __file__: gdb runs a sourced script in __main__, where a Python
    script that sources this one (gdb -x loader.py) has already set __file__ to its own path."""
    return os.path.dirname(os.path.realpath(_plugin_directory.__code__.co_filename))


_here = _plugin_directory()
if _here not in sys.path:
    sys.path.insert(0, _here)
_saved_bytecode = sys.dont_write_bytecode
sys.dont_write_bytecode = True  # no __pycache__ next to the plugin
try:
    import criu_gdb_plugin
finally:
    sys.dont_write_bytecode = _saved_bytecode
criu_gdb_plugin.register()
del _here, _saved_bytecode, _plugin_directory
