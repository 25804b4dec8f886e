"""One measured run: a fresh server, a warm-up, echo-bench, and the server's CPU and RSS."""
import json
import os
import re
import resource
import select
import shlex
import signal
import struct
import subprocess
import tempfile
import time

from . import CPUS, HarnessError, parse_cpus
from .cells import Cell, cell_name
from .procfs import cpu0_busy_ns, cpu_ns, cpu_ticks_ns, rss_bytes

# 'listening on ADDR:PORT' (the floors, echo-svc's TCP) or 'listening on SCHEME://ADDR:PORT'
# (echo-svc's udp://, tls://, mptcp://). The port is the text after the last ':' (an IPv6
# address has colons of its own).
READY = re.compile(r"listening on (?:([a-z]+)://)?(\S+):(\d+)")
# A Unix socket has a path instead: 'listening on unix:///tmp/x.sock'.
READY_UNIX = re.compile(r"listening on unix://(\S+)")
READY_TIMEOUT_S = 10.0


def hold_dma_latency():
    """Holds /dev/cpu_dma_latency at 0 for our lifetime; returns (fd or None, status)."""
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(fd, struct.pack("i", 0))
        return fd, "held at 0"
    except OSError as err:
        return None, f"not set ({err.strerror})"


class Server:
    """A server started for one run, pinned to the server CPU. It gets port 0 and reports
    the port the kernel chose on its ready line: no probe for a free port that someone
    else (echo-bench's own ephemeral ports) could take before the server binds it."""

    def __init__(self, name, argv_template, files=None, kind="tcp", cpus=None):
        self.name = name
        self.kind = kind
        files = files or {}
        self.path = files.get("path", "")
        subst = {"{port}": "0", "{cert}": files.get("cert", ""), "{key}": files.get("key", ""),
                 "{path}": files.get("path", "")}
        self.argv = ["taskset", "-c", cpus or CPUS["server"]] + [re.sub(r"\{(port|cert|key|path)\}", lambda m: subst[m.group(0)], a)
                                                     for a in argv_template]
        if kind == "unix" and os.path.lexists(files["path"]):
            os.unlink(files["path"])  # a server killed earlier may have left it; each run binds it anew
        # A file, not a pipe: nobody reads it during the run, and a full pipe would stall a
        # server that logs. Read back only to say why a server failed.
        self._stderr = tempfile.TemporaryFile()
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr,
                                         stdin=subprocess.DEVNULL)
        except OSError as err:
            self._stderr.close()
            raise HarnessError(f"{name} did not start: {err} (command: {shlex.join(self.argv)})") from None
        self.pid = self.proc.pid  # taskset execs the server: same pid
        try:
            self.port = self._await_ready(READY_TIMEOUT_S)
        except HarnessError:
            self.close()
            raise
        # Includes taskset's exec (~1 ms): an upper bound on the server's own start time.
        self.ready_ms = (time.monotonic() - started) * 1000

    def _not_started(self, why):
        self.stop()  # its stderr is complete only once it has exited
        tail = self.stderr_tail()
        return HarnessError(f"{self.name} did not start: {why} (command: {shlex.join(self.argv)})"
                            + (f"; its stderr: {tail}" if tail else ""))

    def _await_ready(self, timeout):
        """The port from the first line on stdout, which must be the ready line."""
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._not_started(f"no ready line within {timeout:g} s (stdout so far: {buf[:200]!r})")
            readable, _, _ = select.select([self.proc.stdout], [], [], left)
            if not readable:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                try:
                    code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise self._not_started(f"closed stdout without a ready line (stdout: {buf[:200]!r})") from None
                raise self._not_started(f"exited with status {code} before a ready line"
                                        + (f" (stdout: {buf[:200]!r})" if buf else ""))
            buf += chunk
        line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        if self.kind == "unix":
            m = READY_UNIX.fullmatch(line)
            if not m:
                raise self._not_started(f"printed {line[:200]!r} where 'listening on unix://PATH' was expected")
            if m.group(1) != self.path:
                raise self._not_started(f"listens on {m.group(1)!r}, not on the path it was given ({self.path!r})")
            return None
        m = READY.fullmatch(line)
        if not m:
            raise self._not_started(f"printed {line[:200]!r} where 'listening on ADDR:PORT' was expected")
        # A server that names its scheme must name this cell's: echo-bench would otherwise
        # talk TLS to a TCP listener, or UDP to a port nobody serves, and fail obscurely.
        scheme = m.group(1)
        if scheme is not None and scheme != self.kind:
            raise self._not_started(f"printed {line[:200]!r}: a {scheme}:// listener, where {self.kind} was "
                                    "expected")
        port = int(m.group(3))
        if not 0 < port < 65536:
            raise self._not_started(f"reported port {port} on its ready line")
        return port

    def stderr_tail(self, limit=400):
        if self._stderr.closed:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return " | ".join(self._stderr.read().decode(errors="replace").strip().splitlines())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self):
        self.stop()
        self.proc.stdout.close()
        self._stderr.close()


def try_start(name, argv, files=None, kind="tcp"):
    """Starts and stops a server once, so that one that cannot start stops bench/run before
    minutes of measuring rather than after. Returns (port (None for Unix), ms to ready)."""
    srv = Server(name, argv, files, kind)
    srv.close()
    return srv.port, srv.ready_ms


def target_args(kind, port, files):
    """echo-bench's options that say where the server is and how to talk to it."""
    if kind == "unix":
        return ["--unix", files["path"]]
    args = ["--host", "127.0.0.1", "--port", str(port)]
    if kind == "tls":
        args += ["--tls", "--tls-ca", files["ca"]]
    elif kind == "udp":
        args += ["--udp"]
    elif kind == "mptcp":
        # Against every server of the cell, the TCP floor too: the same client throughout.
        args += ["--mptcp"]
    return args


def bench_cmd(bench, target, mode, conns, size, duration, extra=()):
    # One loop per client core: a second loop on a core would only add switches.
    threads = str(min(len(parse_cpus(CPUS["client"])), conns))
    return (["taskset", "-c", CPUS["client"], bench] + target +
            ["--mode", mode, "--connections", str(conns), "--size", str(size),
             "--duration", f"{duration}s", "--timeout", "10s", "--threads", threads, "--json",
             "--progress", "off"] + list(extra))


def one_run(bench, name, argv, cell, duration, warmup, files=None):
    """One run of echo-bench against a fresh server; a dict of figures, "ok" and "error".
    A server that does not start raises HarnessError: the run cannot say anything about it."""
    mode, conns, size, kind = Cell(*cell)
    out = {"server": name, "cell": cell_name(cell), "ok": False}
    srv = Server(name, argv, files, kind)
    target = target_args(kind, srv.port, files or {})
    try:
        if warmup > 0 and mode != "idle":
            try:
                subprocess.run(bench_cmd(bench, target, mode, conns, size, warmup), timeout=120,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                out["error"] = "echo-bench warm-up timed out"
                return out
        rss_before, cpu_pre = rss_bytes(srv.pid), cpu_ns(srv.pid)
        # The client's own CPU: RUSAGE_CHILDREN grows by exactly this run once it is reaped
        # (the server is reaped only later). Near 100% means the client, not the server,
        # set the pace, and rate ratios then say little.
        ru0, client_t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        proc = subprocess.Popen(bench_cmd(bench, target, mode, conns, size, duration, ["--ready-line"]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        cpu0, tick0, busy0, wall0 = cpu_ns(srv.pid), cpu_ticks_ns(srv.pid), cpu0_busy_ns(), time.monotonic()
        rss_up = rss_bytes(srv.pid)
        rss_held = None
        if mode == "idle":
            # Steady idle cost: sample again well into the hold, once a server that frees
            # per-connection state of quiet connections (echo-svc parks after ~0.5-0.75 s)
            # has done so. A measurement window, not synchronisation.
            time.sleep(min(1.5, duration * 0.75))
            rss_held = rss_bytes(srv.pid)
        try:
            rest, err = proc.communicate(timeout=duration + 180)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out["error"] = "echo-bench timed out"
            return out
        ru1, client_t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        cpu1, tick1, busy1, wall1 = cpu_ns(srv.pid), cpu_ticks_ns(srv.pid), cpu0_busy_ns(), time.monotonic()
        lines = [l for l in (first + rest).splitlines() if l.startswith("{")]
        if not lines:
            out["error"] = f"echo-bench exit {proc.returncode}: {err.strip()[:300]}"
            return out
        res = json.loads(lines[-1])
        if not res.get("latency_samples"):  # stream records no per-message latency
            for key in ("p50_us", "p99_us", "p999_us", "max_us"):
                res[key] = None
        out.update(res)
        out["bench_exit"] = proc.returncode
        out["server_cpu_ns"] = cpu1 - cpu0
        out["server_cpu_ticks_ns"] = tick1 - tick0
        units = res["conns"] if mode == "churn" else res["msgs"]
        out["cpu_us_per_msg"] = (cpu1 - cpu0) / 1000 / units if units else None
        out["cpu0_busy_ns"] = busy1 - busy0
        out["ready_ms"] = srv.ready_ms
        out["client_cpu_pct"] = ((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)) / (
            client_t1 - client_t0) * 100
        # CPU 0 time not spent in the server (other tenants, ksoftirqd): ~0 on a quiet
        # machine. When it is not, the run shared its core and its figures are suspect.
        out["cpu0_other_pct"] = max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / ((wall1 - wall0) * 1e9) * 100
        out["cpu0_us_per_msg"] = (busy1 - busy0) / 1000 / units if units else None
        if mode == "idle":
            # What matters for idle is the cost of setting connections up (accept, one
            # echo), not the teardown that follows the hold.
            out["cpu_us_per_msg"] = (cpu0 - cpu_pre) / 1000 / conns
            out["rss_before"] = rss_before
            out["rss_established"] = rss_up
            out["rss_held"] = rss_held
            out["rss_per_conn_established"] = (rss_up - rss_before) / conns
            out["rss_per_conn"] = (rss_held - rss_before) / conns
        out["ok"] = proc.returncode == 0 and srv.alive()
        if not srv.alive():
            tail = srv.stderr_tail()
            out["error"] = f"server died (exit {srv.proc.returncode})" + (f": {tail}" if tail else "")
        elif proc.returncode != 0:
            out["error"] = f"echo-bench exit {proc.returncode}, errors {res['errors']}"
        return out
    finally:
        srv.close()
