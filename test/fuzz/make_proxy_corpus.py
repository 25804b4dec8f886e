#!/usr/bin/env python3
"""Writes the seed corpus of proxy_header_fuzz: PROXY protocol headers as a peer sends them,
valid ones of every kind (some followed by payload) and malformed ones for every reason the
parser gives, so the fuzzer starts from each branch the unit tests reach.
Usage: make_proxy_corpus.py [DIRECTORY]"""
import ipaddress
import os
import struct
import sys

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(ver_cmd, family, block, length=None):
    return SIG + bytes([ver_cmd, family]) + struct.pack("!H", len(block) if length is None else length) + block


def inet(src, dst, sport, dport):
    return ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + struct.pack("!HH", sport, dport)


def inet6(src, dst, sport, dport):
    return ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + struct.pack("!HH", sport, dport)


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def seeds():
    # version 1, valid
    yield "v1-tcp4", b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    yield "v1-tcp4-payload", b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n"
    yield "v1-tcp4-longest", b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
    yield "v1-tcp4-zeros", b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"
    yield "v1-tcp6", b"PROXY TCP6 2001:db8::1 ::1 1 8080\r\n"
    yield "v1-tcp6-longest", (b"PROXY TCP6 " + b":".join([b"ffff"] * 8) + b" " + b":".join([b"FFFF"] * 8)
                              + b" 65535 65535\r\n")
    yield "v1-tcp6-mapped", b"PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n"
    yield "v1-tcp6-full-tail", b"PROXY TCP6 1:2:3:4:5:6:1.2.3.4 1:2:3:4:5:6:7:: 1 2\r\n"
    yield "v1-unknown", b"PROXY UNKNOWN\r\n"
    yield "v1-unknown-payload", b"PROXY UNKNOWN\r\nhello"
    yield "v1-unknown-worst", (b"PROXY UNKNOWN " + b":".join([b"ffff"] * 8) + b" " + b":".join([b"ffff"] * 8)
                               + b" 65535 65535\r\n")
    yield "v1-unknown-107", b"PROXY UNKNOWN " + b"a" * 91 + b"\r\n"
    # version 1, malformed
    yield "v1-too-long", b"PROXY UNKNOWN " + b"a" * 92 + b"\r\n"
    yield "v1-no-crlf", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"
    yield "v1-lone-cr", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"
    yield "v1-extra-field", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"
    yield "v1-double-space", b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"
    yield "v1-missing-fields", b"PROXY TCP4 1.2.3.4\r\n"
    yield "v1-bad-protocol", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"
    yield "v1-octet-256", b"PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n"
    yield "v1-octet-leading-zero", b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"
    yield "v1-ipv6-in-tcp4", b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"
    yield "v1-ipv4-in-tcp6", b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"
    yield "v1-two-double-colons", b"PROXY TCP6 1::2::3 ::1 1 2\r\n"
    yield "v1-nine-groups", b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n"
    yield "v1-port-65536", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"
    yield "v1-port-leading-zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"
    yield "v1-lowercase", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
    # version 2, valid
    yield "v2-inet", v2(0x21, 0x11, inet("192.0.2.1", "198.51.100.7", 40000, 443))
    yield "v2-inet-payload", v2(0x21, 0x11, inet("192.0.2.1", "198.51.100.7", 40000, 443)) + b"hello"
    yield "v2-inet6", v2(0x21, 0x21, inet6("2001:db8::1", "2001:db8::ff", 65535, 0))
    yield "v2-inet-tlvs", v2(0x21, 0x11, inet("10.1.2.3", "10.3.2.1", 5, 6) + tlv(0x03, b"\x7f" * 4)
                             + tlv(0x04, b"\x00" * 20) + tlv(0x01, b"h2"))
    yield "v2-inet6-tlvs", v2(0x21, 0x21, inet6("::1", "::2", 5, 6) + tlv(0x02, b"example.com"))
    yield "v2-local", v2(0x20, 0x00, b"")
    yield "v2-local-inet", v2(0x20, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2))
    yield "v2-unspec", v2(0x21, 0x00, b"")
    yield "v2-unix", v2(0x21, 0x31, b"/run/a".ljust(108, b"\x00") + b"/run/b".ljust(108, b"\x00"))
    yield "v2-udp", v2(0x21, 0x12, inet("1.2.3.4", "5.6.7.8", 53, 53))
    yield "v2-longest", v2(0x21, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2) + tlv(0x04, b"p" * 4065))
    # version 2, malformed
    yield "v2-bad-signature", SIG[:7] + b"X" + SIG[8:] + bytes([0x21, 0x11, 0, 12]) + inet("1.2.3.4", "5.6.7.8", 1, 2)
    yield "v2-version-1", v2(0x11, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2))
    yield "v2-command-2", v2(0x22, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2))
    yield "v2-family-4", v2(0x21, 0x41, inet("1.2.3.4", "5.6.7.8", 1, 2))
    yield "v2-short-inet", v2(0x21, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2)[:11])
    yield "v2-short-inet6", v2(0x21, 0x21, inet("1.2.3.4", "5.6.7.8", 1, 2))
    yield "v2-too-long", v2(0x21, 0x11, inet("1.2.3.4", "5.6.7.8", 1, 2), length=4081)
    yield "v2-truncated", v2(0x21, 0x21, inet6("::1", "::2", 5, 6))[:30]
    # neither
    yield "http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    yield "tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
    yield "empty", b""


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "proxy_header")
    os.makedirs(directory, exist_ok=True)
    count = 0
    for name, data in seeds():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        count += 1
    print(f"{count} seeds written to {directory}")


if __name__ == "__main__":
    main()
