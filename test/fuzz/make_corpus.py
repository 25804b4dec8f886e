#!/usr/bin/env python3
"""Writes the seed corpus of echo_session_fuzz (the input layout is described at the top of
echo_session_fuzz.cpp): one named file per scenario the unit tests cover, so the fuzzer
starts from every branch they reach. Usage: make_corpus.py [DIRECTORY]"""
import os
import sys

ENDINGS = {"fin": 0, "reset": 1, "silence": 2, "after_our_fin": 3}
PLANS = {None: 0, "split": 1, "end_fin": 2, "end_reset": 3}
ERRORS = {"reset": 0, "eof": 1, "aborted": 2, "broken_pipe": 3, "unexpected": 4}
ACTIONS = {"none": 0, "drain": 1, "expire": 2, "expire_write": 3, "expire_early": 4, "close": 5}


def seed(length, read_size=256, end="fin", stall=False, plan=None, param=0, fail_at=None,
         error="reset", start_late=False, idle_timeout=True, write_timeout=True, schedule=()):
    """schedule: (steps, action) pairs; steps None joins the previous action's handler."""
    flags = ENDINGS[end] | (4 if stall else 0) | PLANS[plan] << 3 | (32 if start_late else 0)
    flags |= (0 if idle_timeout else 64) | (0 if write_timeout else 128)
    out = bytes([flags, read_size - 1, 255 if fail_at is None else fail_at, ERRORS[error]])
    out += param.to_bytes(2, "little") + length.to_bytes(2, "little")
    for steps, action in schedule:
        b = ACTIONS[action]
        b |= 8 if steps is None else steps << 4
        out += bytes([b])
    return out


def seeds():
    yield "plain-echo", seed(300, read_size=100)
    yield "plain-echo-4096", seed(4096)
    yield "empty-input", seed(0)
    yield "one-byte-reads", seed(200, read_size=1)
    for n in (1, 7, 100, 512, 513, 1000):
        yield f"half-close-after-{n}", seed(n, read_size=7)
    for n in (0, 1, 11, 300):
        yield f"reset-after-{n}", seed(n, read_size=11, end="reset")
    yield "silent-peer", seed(300, read_size=100, end="silence")
    yield "silent-peer-expires", seed(300, read_size=100, end="silence", schedule=[(15, "expire")])
    yield "stalled-write-expires", seed(300, read_size=100, end="silence", stall=True,
                                        schedule=[(3, "expire_write")])
    yield "stalled-write-no-timeouts", seed(300, read_size=100, stall=True, idle_timeout=False,
                                            write_timeout=False, schedule=[(3, "expire")])
    # start, 4 reads, 4 writes, the eof read, the shutdown: 11 operations.
    for n in range(12):
        yield f"fail-op-{n}-unexpected", seed(256, read_size=64, fail_at=n, error="unexpected")
    for n in (0, 1, 2, 5, 10):
        yield f"fail-op-{n}-reset", seed(256, read_size=64, fail_at=n, error="reset")
    for error in ("eof", "aborted", "broken_pipe"):
        for n in (1, 2):
            yield f"fail-op-{n}-{error}", seed(256, read_size=64, fail_at=n, error=error)
    yield "fail-linger-read", seed(300, read_size=100, end="after_our_fin", fail_at=8,
                                   error="unexpected", schedule=[(6, "drain")])
    yield "drain-before-start", seed(300, read_size=100, end="after_our_fin", start_late=True,
                                     schedule=[(0, "drain")])
    for steps in (1, 2, 3, 7, 15):
        yield f"drain-after-{steps}", seed(300, read_size=100, end="after_our_fin",
                                           schedule=[(steps, "drain")])
    yield "drain-then-close-same-handler", seed(300, read_size=100, end="after_our_fin",
                                                schedule=[(2, "drain"), (None, "close")])
    yield "drain-then-expire-later", seed(300, read_size=100, end="after_our_fin",
                                          schedule=[(3, "drain"), (1, "expire")])
    yield "close-before-start", seed(300, read_size=100, start_late=True, schedule=[(0, "close")])
    for steps in (0, 3, 12):
        yield f"close-after-{steps}", seed(300, read_size=100, end="after_our_fin",
                                           schedule=[(steps, "close")])
    for steps in (0, 2, 5):
        yield f"expire-after-{steps}", seed(300, read_size=100, end="after_our_fin",
                                            schedule=[(steps, "expire")])
    yield "expire-not-due", seed(300, read_size=100, end="silence",
                                 schedule=[(4, "expire_early"), (4, "drain")])
    for size in (1, 7):
        yield f"split-{size}", seed(300, read_size=100, plan="split", param=size - 1)
    yield "split-1-drain", seed(300, read_size=100, plan="split", param=0, end="after_our_fin",
                                schedule=[(9, "drain")])
    yield "split-1-close", seed(300, read_size=100, plan="split", param=0, schedule=[(9, "close")])
    for n in (0, 1, 99, 100, 150, 300):
        for plan in ("end_fin", "end_reset"):
            yield f"end-after-{n}-{plan[4:]}", seed(300, read_size=100, plan=plan, param=n,
                                                    end="after_our_fin")
    yield "end-after-50-fin-silent-peer", seed(300, read_size=100, plan="end_fin", param=50,
                                               end="silence", schedule=[(8, "drain"), (2, "expire")])


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "echo_session")
    os.makedirs(directory, exist_ok=True)
    count = 0
    for name, data in seeds():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        count += 1
    print(f"{count} seeds written to {directory}")


if __name__ == "__main__":
    main()
