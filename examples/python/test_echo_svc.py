"""A client's tests against the echo-svc binary, Python standard library only.

Usage: python3 test_echo_svc.py [path/to/echo-svc]
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ECHO_SVC = "echo-svc"


class EchoServer:
    """echo-svc on a free loopback port, ready once its --ready-file appears."""

    def __init__(self, *args):
        self.dir = tempfile.TemporaryDirectory()
        self.ready = os.path.join(self.dir.name, "ready")
        self.proc = subprocess.Popen(
            [ECHO_SVC, "--port", "0", "--bind", "127.0.0.1", "--ready-file", self.ready, *args],
            stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("echo-svc did not become ready")
            time.sleep(0.05)
        with open(self.ready) as f:
            self.port = int(f.readline().rsplit(":", 1)[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        self.dir.cleanup()
        return code


class EchoSvcTest(unittest.TestCase):
    def setUp(self):
        self.server = EchoServer()

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)

    def test_round_trip(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            payload = bytes(range(256)) * 256
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        self.assertEqual(got, payload)


class SlowServerTest(unittest.TestCase):
    """The client under test must tolerate a slow server: each echo held back 100 ms."""

    def setUp(self):
        self.server = EchoServer("--fault", "latency:delay=100ms")

    def tearDown(self):
        self.assertEqual(self.server.stop(), 0)

    def test_reply_waits_for_the_latency(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            start = time.monotonic()
            s.sendall(b"slow")
            self.assertEqual(s.recv(4), b"slow")
            self.assertGreaterEqual(time.monotonic() - start, 0.09)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ECHO_SVC = sys.argv.pop(1)
    unittest.main()
