#!/usr/bin/env python3
"""Test-only peers for echo-bench's own tests, one misbehaviour each (never benchmarked):

  --slow SECONDS --message-size S  echoes each S-byte message no sooner than SECONDS after
                                   the previous one's echo: a server with a fixed service
                                   time, whose capacity is exactly 1/SECONDS messages per
                                   second per connection (deadlines are absolute, so
                                   Python's own overhead does not add up)
  --reset                          accepts and closes at once with RST (SO_LINGER 0)
  --no-accept                      listens with a backlog of 0 and never accepts: once the
                                   queue is full, the kernel drops further SYNs
  --short                          echoes half of what it reads, then closes

Prints 'listening on 127.0.0.1:PORT' once listening, like the other peers."""
import argparse
import signal
import socket
import struct
import sys
import threading
import time


def serve_slow(conn, service_s, size):
    done = time.monotonic()
    buf = b""
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= size:
                msg, buf = buf[:size], buf[size:]
                done = max(time.monotonic(), done + service_s)
                delay = done - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    conn.sendall(msg)
                except OSError:
                    return


def serve_short(conn):
    with conn:
        try:
            chunk = conn.recv(65536)
            conn.sendall(chunk[:len(chunk) // 2])
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
        except OSError:
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    kind = ap.add_mutually_exclusive_group(required=True)
    kind.add_argument("--slow", type=float, metavar="SECONDS")
    kind.add_argument("--reset", action="store_true")
    kind.add_argument("--no-accept", action="store_true")
    kind.add_argument("--short", action="store_true")
    ap.add_argument("--message-size", type=int, default=64)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(0 if args.no_accept else 128)
    print(f"listening on 127.0.0.1:{lsock.getsockname()[1]}", flush=True)
    if args.no_accept:
        signal.pause()
        return 0
    while True:
        conn, _ = lsock.accept()
        if args.reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        elif args.short:
            threading.Thread(target=serve_short, args=(conn,), daemon=True).start()
        else:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve_slow, args=(conn, args.slow, args.message_size), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
