"""A throwaway CA and server certificate for the TLS cells and smoke tests (openssl CLI)."""
import os
import subprocess

from . import HarnessError

# The names echo-bench checks by default (--host 127.0.0.1) and with --tls-name localhost.
SUBJECT_ALT_NAME = "subjectAltName=IP:127.0.0.1,DNS:localhost"


def _openssl(directory, *args):
    res = subprocess.run(["openssl", *args], cwd=directory, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise HarnessError(f"openssl {args[0]} failed: {res.stderr.strip()[:300]}")


def make(directory):
    """Writes ca.pem, cert.pem and key.pem (P-256, valid two days) into directory; returns
    {"ca": path, "cert": path, "key": path}."""
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    try:
        _openssl(directory, "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=echo-bench test CA")
        _openssl(directory, "req", *curve, "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost")
        with open(os.path.join(directory, "san.cnf"), "w") as f:
            f.write(SUBJECT_ALT_NAME + "\n")
        _openssl(directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "san.cnf")
    except OSError as err:
        raise HarnessError(f"cannot run openssl to make TLS certificates: {err}") from None
    return {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "cert", "key")}
