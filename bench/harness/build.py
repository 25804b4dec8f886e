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


def build(build_dir, want_svc):
    """Configures and builds; returns (bin paths, whether echo-svc was built)."""
    have_svc = False
    if _configure(ROOT, build_dir):
        if not _run(["cmake", "--build", build_dir, "--target", *TOOLS]):
            raise HarnessError("building the benchmark tools failed")
        if want_svc:
            have_svc = _run(["cmake", "--build", build_dir, "--target", "echo-svc"])
            if not have_svc:
                log("bench/run: WARNING: echo-svc did not build; running without it")
        bins = binaries(build_dir)
    else:
        # The service tree may be mid-change; the tools alone still build.
        log("bench/run: WARNING: the full tree did not configure; building bench/standalone "
            "(no echo-svc)")
        sdir = build_dir + "-standalone"
        if not (_configure(os.path.join(BENCH, "standalone"), sdir) and _run(["cmake", "--build", sdir])):
            raise HarnessError("building the benchmark tools failed")
        bins = {t: os.path.join(sdir, "bench", t) for t in TOOLS}
    return bins, have_svc
