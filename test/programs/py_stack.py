# A Python program whose interpreter stack gdb's py-bt shows (with the python3.11 debug package):
# <module> -> outer -> middle -> inner, where inner blocks in signal.pause().
# Speaks the test programs' protocol (see common.h): `fact PID key value` lines, then `ready PID`.
import os
import signal
import sys


def fact(key, value):
    os.write(1, f"fact {os.getpid()} {key} {value}\n".encode())


def inner(depth):
    fact("python.inner.depth", depth)
    os.write(1, f"ready {os.getpid()}\n".encode())
    while True:
        signal.pause()


def middle(label):
    inner(len(label))


def outer():
    middle("criu-gdb")


fact("python.version", sys.version.split()[0])
outer()
