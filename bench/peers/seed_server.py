#!/usr/bin/env python3
"""seed: the seeds' Python `selectors` echo server (designs 000/003), kept as the slow baseline.

Same design as the seed: one DefaultSelector, every connection registered for
EVENT_READ | EVENT_WRITE, recv(1024) appended to an `outb` bytes buffer, send() from it
when writable. Changes, all needed to benchmark it fairly and none that speed it up:
  * --port/--bind arguments (port 0 allowed) and the common ready line on stdout;
  * no per-message print (stdout writes would measure the terminal, not the server);
  * on EOF the rest of `outb` is still sent before closing (the seed dropped it);
  * ECONNRESET and friends close the connection instead of killing the server;
  * TCP_NODELAY, as every peer in bench/ sets it;
  * SIGTERM exits 0.
"""
import argparse
import selectors
import signal
import socket
import sys
import types

sel = selectors.DefaultSelector()


def accept_wrapper(sock):
    while True:
        try:
            conn, addr = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:  # EMFILE and the like: try again on the next event
            print(f"seed: accept: {err}", file=sys.stderr)
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = types.SimpleNamespace(addr=addr, outb=b"", eof=False)
        sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE, data=data)


def close_connection(sock):
    sel.unregister(sock)
    sock.close()


def service_connection(key, mask):
    sock = key.fileobj
    data = key.data
    try:
        if mask & selectors.EVENT_READ and not data.eof:
            recv_data = sock.recv(1024)
            if recv_data:
                data.outb += recv_data
            else:
                data.eof = True
                if not data.outb:
                    sock.shutdown(socket.SHUT_WR)
                    close_connection(sock)
                    return
                # Only the write side is left to finish.
                sel.modify(sock, selectors.EVENT_WRITE, data=data)
        if mask & selectors.EVENT_WRITE and data.outb:
            sent = sock.send(data.outb)
            data.outb = data.outb[sent:]
            if data.eof and not data.outb:
                sock.shutdown(socket.SHUT_WR)
                close_connection(sock)
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        close_connection(sock)


def main():
    parser = argparse.ArgumentParser(description="seed selectors echo server (benchmark peer)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.bind, args.port))
    lsock.listen(socket.SOMAXCONN)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, data=None)
    print(f"listening on {args.bind}:{lsock.getsockname()[1]}", flush=True)
    try:
        while True:
            for key, mask in sel.select(timeout=None):
                if key.data is None:
                    accept_wrapper(key.fileobj)
                else:
                    service_connection(key, mask)
    except KeyboardInterrupt:
        pass
    finally:
        sel.close()


if __name__ == "__main__":
    main()
