"""The servers bench/run knows: names, the transports each speaks with a command template
for each, and what each needs built. In a template '{port}' is where the port goes, and
'{cert}', '{key}' (TLS) and '{path}' (a Unix socket) what bench/run made for the run."""
import os
import shlex
import sys

from . import BENCH, HarnessError

DEFAULT = ["echo-svc-1", "echo-svc-2", "floor", "asio-classic", "seed"]
# Run the main tree's echo-svc; echo-svc-portable has a tree of its own, base is prebuilt.
TREE_SVC = ("echo-svc-1", "echo-svc-2")
PORTABLE = "echo-svc-portable"
BASE = "base"
REFERENCE = "floor"
# The bare splice technique (socket -> pipe -> socket, floor.c's loop): on request, to show
# how close echo-svc's splice path comes to it.
SPLICE_FLOOR = "splice-floor"
# The floor of each transport: every ratio in a cell is to the floor of its kind. MPTCP has
# none of its own: floor.c serves those cells over plain TCP (echo-bench's MPTCP connect
# falls back to TCP against it), so the ratio is what MPTCP costs echo-svc over TCP's floor.
FLOORS = {"tcp": "floor", "unix": "floor", "tls": "tls-floor", "udp": "udp-floor", "mptcp": "floor"}
# (server, kind) pairs served by another transport than the cell's, for the report to say so.
STAND_INS = {("floor", "mptcp"): "TCP"}


def reference(kind):
    return FLOORS[kind]


def svc_argv(binary, threads):
    return [binary, "--threads", str(threads), "--port", "{port}", "--bind", "127.0.0.1",
            "--log-level", "warn"]


def svc_kinds(binary, threads):
    """echo-svc speaks every transport: TCP as always, the others through --listen (with only
    --listen it serves only that URL)."""
    def listen(url, *extra):
        return [binary, "--threads", str(threads), "--listen", url, *extra, "--log-level", "warn"]

    return {
        "tcp": svc_argv(binary, threads),
        # The per-source reply budget (10,000 datagrams/s by default) would drop most of a
        # benchmark's datagrams, all of which come from 127.0.0.1: lifted, 0 = unlimited.
        "udp": listen("udp://127.0.0.1:{port}", "--udp-source-rate", "0", "--udp-source-bytes", "0"),
        "tls": listen("tls://127.0.0.1:{port}", "--tls-cert", "{cert}", "--tls-key", "{key}"),
        "unix": listen("unix://{path}"),
        "mptcp": listen("mptcp://127.0.0.1:{port}"),
    }


def parse_extra(specs):
    """--server-cmd NAME=CMD values, as {name: argv template}."""
    extra = {}
    for spec in specs:
        name, _, cmd = spec.partition("=")
        if not name or not cmd or "{port}" not in cmd:
            raise ValueError(f"--server-cmd expects NAME='command ... {{port}} ...', got {spec!r}")
        extra[name] = shlex.split(cmd)
    return extra


def select(servers_arg, extra, base, kinds=("tcp",)):
    """The servers to measure, in report order; the floor of every transport the cells use
    always (every ratio is to it), and base whenever --base names one."""
    wanted = servers_arg.split(",") if servers_arg else DEFAULT + list(extra)
    known = set(DEFAULT) | {PORTABLE, BASE, SPLICE_FLOOR} | set(FLOORS.values()) | set(extra)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(f"unknown server(s) {unknown}; known: {sorted(known)}")
    if BASE in wanted and base is None and BASE not in extra:
        raise ValueError("server 'base' needs --base PATH")
    wanted = list(dict.fromkeys(wanted))
    for kind in kinds:
        if reference(kind) not in wanted:
            wanted.append(reference(kind))
    if base is not None and BASE not in wanted:
        wanted.append(BASE)
    return wanted


def needs(wanted, extra):
    """(servers that need the main tree's echo-svc, whether the portable tree is needed);
    a --server-cmd of the same name replaces the built-in command and needs no build."""
    return ([s for s in TREE_SVC if s in wanted and s not in extra],
            PORTABLE in wanted and PORTABLE not in extra)


def table(bins, extra, base):
    """{name: {kind: argv template}}: the transports each server speaks, and how it is
    started for each. A --server-cmd speaks TCP."""
    floor_tcp = [bins["echo-floor"], "--port", "{port}"]
    tbl = {
        "floor": {"tcp": floor_tcp, "unix": [bins["echo-floor"], "--unix", "{path}"], "mptcp": floor_tcp},
        "udp-floor": {"udp": [bins["echo-udp-floor"], "--port", "{port}"]},
        "tls-floor": {"tls": [bins["echo-tls-floor"], "--port", "{port}", "--cert", "{cert}", "--key", "{key}"]},
        "splice-floor": {"tcp": [bins["echo-splice-floor"], "--port", "{port}"],
                         "unix": [bins["echo-splice-floor"], "--unix", "{path}"]},
        "asio-classic": {"tcp": [bins["echo-asio-classic"], "--port", "{port}"]},
        "seed": {"tcp": [sys.executable, os.path.join(BENCH, "peers", "seed_server.py"), "--port", "{port}"]},
    }
    if "echo-svc" in bins:
        tbl["echo-svc-1"] = svc_kinds(bins["echo-svc"], 1)
        tbl["echo-svc-2"] = svc_kinds(bins["echo-svc"], 2)
    if "echo-svc-portable" in bins:
        tbl[PORTABLE] = svc_kinds(bins["echo-svc-portable"], 1)
    if base is not None:
        # The previous engine under the same arguments as echo-svc-1: a paired comparison.
        tbl[BASE] = svc_kinds(base, 1)
    tbl.update({name: {"tcp": argv} for name, argv in extra.items()})
    return tbl


def speaks(tbl, name, kind):
    return kind in tbl[name]


def label(name, kind):
    """The server's name in a cell's row, with the transport it really serves when that is
    not the cell's: 'floor (TCP)' in an mptcp cell."""
    other = STAND_INS.get((name, kind))
    return f"{name} ({other})" if other else name


def check_executables(tbl, wanted):
    """A missing binary named by path is a clearer error here than taskset's at start-up."""
    for name in wanted:
        for argv in tbl[name].values():
            exe = argv[0]
            if os.sep in exe and not os.access(exe, os.X_OK):
                raise HarnessError(f"{name}: no executable at {exe}")
