"""The plugin's JSON-RPC client (gdb-plugin/criu_gdb_plugin/rpc.py) under a plain Python 3, without gdb:
it starts the real built helper and talks to it. Run by test/plugin/rpc-client.test.ts."""

import json
import os
import stat
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(REPO, "gdb-plugin"))
sys.dont_write_bytecode = True

from criu_gdb_plugin import rpc  # noqa: E402  (this package, not gdb: importing must not need gdb)

DEMO = os.path.join(REPO, "test", "fixtures", "demo")


class RpcClientTest(unittest.TestCase):
    def setUp(self):
        self.assertNotIn("gdb", sys.modules)
        self.helper = rpc.Helper(rpc.helper_command(REPO))

    def tearDown(self):
        self.helper.stop()

    def test_ping_commands_open_run_close(self):
        self.assertEqual(self.helper.request("ping")["pid"], self.helper.pid)
        names = sorted(c["name"] for c in self.helper.request("commands")["commands"])
        self.assertEqual(names, ["diff", "fds", "info", "maps", "memory", "ps", "search"])
        opened = self.helper.request("open", {"path": os.path.join(DEMO, "checkpoint"), "root": os.path.join(DEMO, "rootfs")})
        pid = opened["processes"][0]["pid"]
        ps = self.helper.request("run", {"argv": ["ps"]})
        self.assertRegex(ps["text"], r"(?m)^%d\s+\d+\s+stopped\s+3\s+" % pid)
        self.assertEqual(ps["warnings"], [])
        found = self.helper.request("run", {"argv": ["search", "criu-gdb", "corner", "shop"], "pid": pid})
        self.assertRegex(found["text"], r"^%d 0x[0-9a-f]+  \S+  \|\.*criu-gdb corner shop\.*\|$" % pid)
        self.assertEqual(self.helper.request("close"), {"closed": True})

    def test_node_reads_no_certificates_unless_debuginfod_is_https(self):
        certificates = "/etc/ssl/certs/ca-certificates.crt"
        cases = [({}, False), ({"DEBUGINFOD_URLS": "http://127.0.0.1:1 file:///x"}, False),
                 ({"DEBUGINFOD_URLS": "http://127.0.0.1:1 HTTPS://debuginfod.example"}, True)]
        for extra, kept in cases:
            environ = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
            environ.update(extra, NODE_EXTRA_CA_CERTS=certificates)
            helper = rpc.Helper(rpc.helper_command(REPO), environ)
            try:
                self.assertEqual(helper.request("ping")["pid"], helper.pid)
                with open("/proc/%d/environ" % helper.pid, "rb") as f:
                    seen = f.read().split(b"\0")
                self.assertEqual(("NODE_EXTRA_CA_CERTS=" + certificates).encode() in seen, kept, extra)
                self.assertIn(b"PATH=" + os.environ["PATH"].encode(), seen)
            finally:
                helper.stop()

    def test_helper_errors_are_one_line_with_their_code(self):
        with self.assertRaises(rpc.HelperError) as caught:
            self.helper.request("frobnicate")
        self.assertEqual(str(caught.exception), "unknown method 'frobnicate'")
        self.assertEqual(caught.exception.code, -32601)
        with self.assertRaises(rpc.HelperError) as caught:
            self.helper.request("run", {"argv": ["ps"]})
        self.assertEqual(caught.exception.code, -32002)
        self.assertTrue(self.helper.alive())

    def test_a_dead_helper_is_reported_with_its_last_words(self):
        self.helper.kill()
        with self.assertRaises(rpc.ClientError) as caught:
            self.helper.request("ping")
        self.assertEqual(str(caught.exception), "criu-gdb helper exited: killed by SIGTERM")
        self.assertFalse(self.helper.alive())


class FakeHelperTest(unittest.TestCase):
    def fake(self, script):
        directory = tempfile.mkdtemp(prefix="criu-gdb-fake-helper-")
        self.addCleanup(lambda: (os.unlink(path), os.rmdir(directory)))
        path = os.path.join(directory, "helper")
        with open(path, "w") as out:
            out.write("#!/bin/sh\n" + script)
        os.chmod(path, stat.S_IRWXU)
        helper = rpc.Helper([path])
        self.addCleanup(helper.stop)
        return helper

    def test_silence_is_a_timeout(self):
        helper = self.fake("exec sleep 30\n")
        with self.assertRaises(rpc.ClientError) as caught:
            helper.request("ping", timeout=0.5)
        self.assertEqual(str(caught.exception), "criu-gdb helper did not answer 'ping' within 0.5 seconds")

    def test_a_request_given_up_is_cancelled(self):
        record = tempfile.NamedTemporaryFile(prefix="criu-gdb-fake-helper-stdin-", delete=False)
        record.close()
        self.addCleanup(lambda: os.unlink(record.name))
        helper = self.fake("exec 3>&1\nexec cat > '%s'\n" % record.name)
        with self.assertRaises(rpc.ClientError):
            helper.request("run", {"argv": ["search", "x"]}, timeout=0.5)
        helper.stop(timeout=1)
        with open(record.name, "rb") as recorded:
            data = recorded.read()
        messages = []
        while data:
            header, _, rest = data.partition(b"\r\n\r\n")
            length = int(header.split(b":")[1])
            messages.append(json.loads(rest[:length]))
            data = rest[length:]
        cancels = [m for m in messages if m.get("method") == "$/cancelRequest"]
        self.assertEqual(cancels, [{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}}])

    def test_garbage_is_refused(self):
        helper = self.fake("printf 'Content-Length: 5\\r\\n\\r\\n{oops'; exec sleep 30\n")
        with self.assertRaises(rpc.ClientError) as caught:
            helper.request("ping", timeout=5)
        self.assertEqual(str(caught.exception), "criu-gdb helper sent malformed JSON")

    def test_a_crash_reports_the_last_stderr_line(self):
        helper = self.fake("echo 'first' >&2; echo 'fatal: cannot go on' >&2; exit 3\n")
        with self.assertRaises(rpc.ClientError) as caught:
            helper.request("ping", timeout=5)
        self.assertEqual(str(caught.exception), "criu-gdb helper exited: fatal: cannot go on")

    def test_a_missing_program_cannot_start(self):
        with self.assertRaises(rpc.ClientError) as caught:
            rpc.Helper(["/nonexistent/node"])
        self.assertEqual(str(caught.exception), "cannot start the criu-gdb helper (/nonexistent/node): No such file or directory")


if __name__ == "__main__":
    unittest.main()
