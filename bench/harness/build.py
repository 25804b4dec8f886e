"""Configuring and building the Release trees whose binaries bench/run measures."""
import os
import subprocess
import sys

from . import BENCH, ROOT, HarnessError, log

TOOLS = ("echo-bench", "echo-floor", "echo-udp-floor", "echo-tls-floor", "echo-splice-floor", "echo-asio-classic")
PORTABLE_OPTION = "ECHO_PORTABLE_READ"


def binaries(build_dir):
    """Where a configured tree keeps the benchmark tools and echo-svc."""
    bins = {t: os.path.join(build_dir, "bench", t) for t in TOOLS}
    bins["echo-svc"] = os.path.join(build_dir, "app", "echo-svc")
    return bins


def portable_dir(build_dir):
    return build_dir + "-portable"


def _run(cmd):
    log("+ " + " ".join(cmd))
    # Build chatter goes to stderr: stdout carries only the markdown table.
    return subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr).returncode == 0


def _configure(source, tree, *options):
    return _run(["cmake", "-S", source, "-B", tree, "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF", *options])


def check_portable_option(tree):
    """A -D that the project never declares is only a warning to CMake, and would give an
    ordinary echo-svc under the portable name. option() types the cache entry BOOL; a value
    nothing declared stays UNINITIALIZED."""
    cache = os.path.join(tree, "CMakeCache.txt")
    try:
        with open(cache) as f:
            declared = any(line.startswith(f"{PORTABLE_OPTION}:") and
                           not line.startswith(f"{PORTABLE_OPTION}:UNINITIALIZED") for line in f)
    except OSError as err:
        raise HarnessError(f"echo-svc-portable: cannot read {cache}: {err.strerror}") from None
    if not declared:
        raise HarnessError(f"echo-svc-portable: this source tree has no {PORTABLE_OPTION} option, so "
                           f"{tree} would build the ordinary read path")


def build(build_dir, svc_servers, portable):
    """Configures and builds the tools and whatever the selected servers need; returns the
    binaries (echo-svc and echo-svc-portable only when built). svc_servers names the selected
    servers that run this tree's echo-svc; portable asks for the ECHO_PORTABLE_READ tree."""
    if _configure(ROOT, build_dir):
        if not _run(["cmake", "--build", build_dir, "--target", *TOOLS]):
            raise HarnessError("building the benchmark tools failed")
        bins = {t: p for t, p in binaries(build_dir).items() if t in TOOLS}
        if svc_servers:
            if not _run(["cmake", "--build", build_dir, "--target", "echo-svc"]):
                raise HarnessError(f"{', '.join(svc_servers)}: echo-svc did not build in {build_dir} "
                                   "(build output above)")
            bins["echo-svc"] = binaries(build_dir)["echo-svc"]
    elif svc_servers or portable:
        # The standalone tree has no echo-svc: falling back would measure something else
        # than was asked for.
        wanted = list(svc_servers) + (["echo-svc-portable"] if portable else [])
        raise HarnessError(f"{', '.join(wanted)}: the source tree did not configure in {build_dir} "
                           "(cmake output above)")
    else:
        # The service tree may be mid-change; the tools alone still build, and no echo-svc
        # server was asked for.
        log("bench/run: the full tree did not configure; building bench/standalone")
        sdir = build_dir + "-standalone"
        if not (_configure(os.path.join(BENCH, "standalone"), sdir) and _run(["cmake", "--build", sdir])):
            raise HarnessError("building the benchmark tools failed")
        bins = {t: os.path.join(sdir, "bench", t) for t in TOOLS}
    if portable:
        tree = portable_dir(build_dir)
        if not _configure(ROOT, tree, f"-D{PORTABLE_OPTION}=ON"):
            raise HarnessError(f"echo-svc-portable: the source tree did not configure in {tree} "
                               f"with -D{PORTABLE_OPTION}=ON (cmake output above)")
        check_portable_option(tree)
        if not _run(["cmake", "--build", tree, "--target", "echo-svc"]):
            raise HarnessError(f"echo-svc-portable: echo-svc did not build in {tree} (build output above)")
        bins["echo-svc-portable"] = binaries(tree)["echo-svc"]
    return bins


def prebuilt(build_dir, portable):
    """The binaries of trees built earlier (--no-build). The servers' binaries are checked
    with the rest of their commands; echo-bench is not a server, so it is checked here."""
    bins = binaries(build_dir)
    if not os.access(bins["echo-bench"], os.X_OK):
        raise HarnessError(f"echo-bench: no executable at {bins['echo-bench']}")
    if portable:
        tree = portable_dir(build_dir)
        check_portable_option(tree)
        bins["echo-svc-portable"] = binaries(tree)["echo-svc"]
    return bins
