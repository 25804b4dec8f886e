"""What bench/run reads from /proc: a server's CPU time and RSS, and how busy its core was."""
import os

from . import CPUS, parse_cpus


def cpu_ns(pid):
    """Server CPU time in ns, summed over live threads (schedstat: ns resolution)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def cpu_ticks_ns(pid):
    """utime+stime from /proc/PID/stat (all threads, 10 ms ticks), in ns."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // hz


def cpu0_busy_ns():
    """Everything the server's CPUs (CPU 0 by default) did that was not idle (/proc/stat:
    user+nice+system+irq+softirq, ticks). The server is alone there, so this adds what
    ksoftirqd did on its behalf, which the per-process figure misses; coarse (10 ms
    ticks), kept as a cross-check."""
    wanted = {f"cpu{c}" for c in parse_cpus(CPUS["server"])}
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            if line.split(" ", 1)[0] in wanted:
                v = [int(x) for x in line.split()[1:]]
                total += (v[0] + v[1] + v[2] + v[5] + v[6]) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return total


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
