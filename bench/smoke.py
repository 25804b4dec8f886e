#!/usr/bin/env python3
"""CTest driver for the bench-smoke tests: start a server on port 0 (a Unix socket: a
path in a fresh temp dir), read its ready line, run one echo-bench mode against it
briefly over the given transport, check the exit code, always stop the server. No fixed
ports and no sleeps: every wait has a deadline.

A --server command may use {cert}, {key} (a certificate for 127.0.0.1 made for the run)
and {path} (the Unix socket's path)."""
import argparse
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import certs  # noqa: E402

# 'listening on ADDR:PORT', or with a scheme ('udp://127.0.0.1:P') from echo-svc's --listen.
READY = re.compile(r"listening on (?:([a-z]+)://)?(\[[^\]]+\]|[^\s:/]+):(\d+)\s*$")
READY_UNIX = re.compile(r"listening on unix://(\S+)\s*$")
STREAM_MODES = ("pingpong", "stream", "churn", "idle")
MODES = {"tcp": STREAM_MODES, "tls": STREAM_MODES, "unix": STREAM_MODES, "mptcp": STREAM_MODES,
         "udp": ("pingpong", "stream")}


def start_server(command, deadline_s=15.0, params=None, transport="tcp"):
    unix = transport == "unix"
    argv = [a.format(**params) if params else a for a in shlex.split(command)]
    # echo-svc's --listen URLs carry their own port; --port as well would add a TCP listener.
    if not unix and "--port" not in argv and "--listen" not in argv:
        argv += ["--port", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    end = time.monotonic() + deadline_s
    buf = ""
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 4096).decode()
        if not chunk:
            break
        buf += chunk
        for line in buf.splitlines():
            m = READY_UNIX.match(line.strip()) if unix else READY.match(line.strip())
            if m and unix:
                return proc, m.group(1), None
            # A line naming another scheme is another listener (echo-svc's admin http://).
            if m and m.group(1) in (None, transport):
                return proc, m.group(2).strip("[]"), int(m.group(3))
    stop_server(proc)
    raise SystemExit(f"smoke: server did not print a ready line: {argv} (got {buf!r})")


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def target_args(transport, host, port, files):
    if transport == "unix":
        return ["--unix", host]
    args = ["--host", host, "--port", str(port)]
    if transport == "tls":
        args += ["--tls", "--tls-ca", files["ca"]]
    if transport == "udp":
        args += ["--udp"]
    if transport == "mptcp":
        args += ["--mptcp"]
    return args


def bench_args(mode):
    base = ["--mode", mode, "--duration", "1s", "--timeout", "5s", "--json", "--progress", "off"]
    if mode == "idle":
        return base + ["--connections", "200", "--size", "64"]
    if mode == "churn":
        return base + ["--connections", "8", "--size", "512"]
    if mode == "stream":
        return base + ["--connections", "4", "--size", "16384"]
    return base + ["--connections", "10", "--size", "1000", "--threads", "2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--mode", required=True, choices=["pingpong", "stream", "churn", "idle"])
    ap.add_argument("--transport", default="tcp", choices=sorted(MODES))
    ap.add_argument("--server", help="server command line (--port 0 is added if absent)")
    ap.add_argument("--closed-port", action="store_true", help="target a bound, non-listening port")
    ap.add_argument("--expect-failure", action="store_true", help="pass iff echo-bench exits 1")
    ap.add_argument("--expect-error", metavar="KIND",
                    help="with --expect-failure: and its JSON counts errors of this kind (e.g. mismatch)")
    ap.add_argument("--max-lost", type=int, metavar="N",
                    help="udp: fail if more than N datagrams were lost (loss alone does not fail echo-bench)")
    ap.add_argument("--bad-args", action="store_true",
                    help="pass iff echo-bench exits 2 on a malformed value, without connecting")
    args = ap.parse_args()
    if args.mode not in MODES[args.transport]:
        ap.error(f"--transport {args.transport} has modes {', '.join(MODES[args.transport])}")

    if args.bad_args:
        res = subprocess.run([args.bench, "--mode", args.mode, "--port", "0x10"], timeout=30,
                             stderr=subprocess.PIPE, text=True)
        ok = res.returncode == 2 and "--port" in res.stderr
        print(f"smoke: {res.stderr.strip()!r}, exit {res.returncode} -> {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1

    proc = None
    holder = None
    tmp = tempfile.TemporaryDirectory(prefix="echo-smoke-")
    try:
        files = {"path": os.path.join(tmp.name, "echo.sock")}
        if args.transport == "tls":
            files.update(certs.make(tmp.name))
        if args.closed_port:
            # Bound but not listening: connects are refused, and no one else can take it.
            holder = socket.socket()
            holder.bind(("127.0.0.1", 0))
            host, port = "127.0.0.1", holder.getsockname()[1]
        else:
            proc, host, port = start_server(args.server, params=files, transport=args.transport)
        cmd = [args.bench] + target_args(args.transport, host, port, files) + bench_args(args.mode)
        print("smoke:", " ".join(cmd), flush=True)
        res = subprocess.run(cmd, timeout=60, stdout=subprocess.PIPE, text=True)
        print(res.stdout, end="", flush=True)
        if args.expect_failure:
            ok = res.returncode == 1
            if args.expect_error:
                # Failing is not enough: it must fail for the reason the test is about.
                lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
                counted = json.loads(lines[-1])["errors"].get(args.expect_error, 0) if lines else 0
                print(f"smoke: {args.expect_error} errors counted: {counted}", flush=True)
                ok = ok and counted > 0
        else:
            ok = res.returncode == 0
        if args.max_lost is not None:
            lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
            lost = json.loads(lines[-1]).get("datagrams", {}).get("lost") if lines else None
            print(f"smoke: datagrams lost: {lost} (at most {args.max_lost} allowed)", flush=True)
            ok = ok and lost is not None and lost <= args.max_lost
        if proc is not None and proc.poll() is not None:
            print(f"smoke: server exited early with {proc.returncode}", flush=True)
            ok = False
        print(f"smoke: echo-bench exit {res.returncode} -> {'PASS' if ok else 'FAIL'}", flush=True)
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if holder is not None:
            holder.close()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
