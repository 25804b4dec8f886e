#!/usr/bin/env python3
"""A deliberately broken echo server for the negative smoke test: echoes every
byte except that it flips one bit in every 1000th byte, so a verifying client
must report mismatches and exit non-zero. Test-only; never benchmarked."""
import argparse
import socket
import sys
import threading


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
            out = bytearray(chunk)
            for i in range(len(out)):
                if (count + i) % 1000 == 999:
                    out[i] ^= 0x01
            count += len(out)
            try:
                conn.sendall(out)
            except OSError:
                return


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    lsock = socket.create_server(("127.0.0.1", args.port))
    print(f"listening on 127.0.0.1:{lsock.getsockname()[1]}", flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
