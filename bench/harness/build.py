"""Configuring and building the Release tree whose binaries bench/run measures."""
import os
import subprocess
import sys

from . import BENCH, ROOT, HarnessError, log

TOOLS = ("echo-bench", "echo-floor", "echo-asio-classic")


def binaries(build_dir):
    """Where a configured tree keeps the benchmark tools and echo-svc."""
    bins = {t: os.path.join(build_dir, "bench", t) for t in TOOLS}
    bins["echo-svc"] = os.path.join(build_dir, "app", "echo-svc")
    return bins


def _run(cmd):
    log("+ " + " ".join(cmd))
    # Build chatter goes to stderr: stdout carries only the markdown table.
    return subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr).returncode == 0


def _configure(source, tree, *options):
    return _run(["cmake", "-S", source, "-B", tree, "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF", *options])


def build(build_dir, svc_servers):
    """Configures and builds the tools and, when svc_servers names selected servers that run
    this tree's echo-svc, echo-svc; returns the binaries (echo-svc only when built)."""
    if _configure(ROOT, build_dir):
        if not _run(["cmake", "--build", build_dir, "--target", *TOOLS]):
            raise HarnessError("building the benchmark tools failed")
        bins = {t: p for t, p in binaries(build_dir).items() if t in TOOLS}
        if svc_servers:
            if not _run(["cmake", "--build", build_dir, "--target", "echo-svc"]):
                raise HarnessError(f"{', '.join(svc_servers)}: echo-svc did not build in {build_dir} "
                                   "(build output above)")
            bins["echo-svc"] = binaries(build_dir)["echo-svc"]
    elif svc_servers:
        # The standalone tree has no echo-svc: falling back would measure something else
        # than was asked for.
        raise HarnessError(f"{', '.join(svc_servers)}: the source tree did not configure in {build_dir} "
                           "(cmake output above)")
    else:
        # The service tree may be mid-change; the tools alone still build, and no echo-svc
        # server was asked for.
        log("bench/run: the full tree did not configure; building bench/standalone")
        sdir = build_dir + "-standalone"
        if not (_configure(os.path.join(BENCH, "standalone"), sdir) and _run(["cmake", "--build", sdir])):
            raise HarnessError("building the benchmark tools failed")
        bins = {t: os.path.join(sdir, "bench", t) for t in TOOLS}
    return bins


def prebuilt(build_dir):
    """The binaries of trees built earlier (--no-build). The servers' binaries are checked
    with the rest of their commands; echo-bench is not a server, so it is checked here."""
    bins = binaries(build_dir)
    if not os.access(bins["echo-bench"], os.X_OK):
        raise HarnessError(f"echo-bench: no executable at {bins['echo-bench']}")
    return bins
