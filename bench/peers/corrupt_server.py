#!/usr/bin/env python3
"""A deliberately broken echo server for the negative smoke tests: echoes every
byte except that it flips one bit in every 1000th byte, so a verifying client
must report mismatches and exit non-zero. Speaks TCP (default), MPTCP (--mptcp), TLS
(--tls CERT KEY), a Unix stream socket (--unix PATH) or UDP (--udp; there the count runs
over all datagrams). Test-only; never benchmarked."""
import argparse
import os
import socket
import ssl
import sys
import threading

IPPROTO_MPTCP = getattr(socket, "IPPROTO_MPTCP", 262)  # Python < 3.10 lacks the name


def corrupt(chunk, count):
    out = bytearray(chunk)
    for i in range(len(out)):
        if (count + i) % 1000 == 999:
            out[i] ^= 0x01
    return out


def serve(conn):
    count = 0
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            out = corrupt(chunk, count)
            count += len(out)
            try:
                conn.sendall(out)
            except OSError:
                return


def serve_udp(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    count = 0
    while True:
        data, peer = sock.recvfrom(65535)
        sock.sendto(corrupt(data, count), peer)
        count += len(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--udp", action="store_true")
    parser.add_argument("--unix", metavar="PATH")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--mptcp", action="store_true")
    args = parser.parse_args()
    if args.udp:
        return serve_udp(args)
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(args.unix)
        lsock.listen()
        print(f"listening on unix://{args.unix}", flush=True)
    elif args.mptcp:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
        lsock.bind(("127.0.0.1", args.port))
        lsock.listen()
        print(f"listening on mptcp://127.0.0.1:{lsock.getsockname()[1]}", flush=True)
    else:
        lsock = socket.create_server(("127.0.0.1", args.port))
        print(f"listening on 127.0.0.1:{lsock.getsockname()[1]}", flush=True)
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
    while True:
        conn, _ = lsock.accept()
        if ctx is not None:
            try:
                conn = ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
