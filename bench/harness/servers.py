"""The servers bench/run knows: names and command templates."""
import os
import shlex
import sys

from . import BENCH

DEFAULT = ["echo-svc-1", "echo-svc-2", "floor", "asio-classic", "seed"]
REFERENCE = "floor"


def svc_argv(binary, threads):
    return [binary, "--threads", str(threads), "--port", "{port}", "--bind", "127.0.0.1",
            "--log-level", "warn"]


def parse_extra(specs):
    """--server-cmd NAME=CMD values, as {name: argv template}."""
    extra = {}
    for spec in specs:
        name, _, cmd = spec.partition("=")
        if not name or not cmd or "{port}" not in cmd:
            raise ValueError(f"--server-cmd expects NAME='command ... {{port}} ...', got {spec!r}")
        extra[name] = shlex.split(cmd)
    return extra


def select(servers_arg, extra):
    """The servers to measure, in report order; floor always: every ratio is to it."""
    wanted = servers_arg.split(",") if servers_arg else DEFAULT + list(extra)
    known = set(DEFAULT) | set(extra)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}; known: {sorted(known)}")
    wanted = list(dict.fromkeys(wanted))
    if REFERENCE not in wanted:
        wanted.append(REFERENCE)
    return wanted


def table(bins, extra):
    """{name: argv template}; '{port}' in a template is where the port goes."""
    tbl = {
        "echo-svc-1": svc_argv(bins.get("echo-svc", ""), 1),
        "echo-svc-2": svc_argv(bins.get("echo-svc", ""), 2),
        "floor": [bins["echo-floor"], "--port", "{port}"],
        "asio-classic": [bins["echo-asio-classic"], "--port", "{port}"],
        "seed": [sys.executable, os.path.join(BENCH, "peers", "seed_server.py"), "--port", "{port}"],
    }
    tbl.update(extra)
    return tbl
