#include "test_certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace echo::test {
namespace {

struct key_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct cert_free {
  void operator()(X509* c) const noexcept { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using cert_ptr = std::unique_ptr<X509, cert_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test_certs: ") + what + " failed");
}

key_ptr make_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EC key generation");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

enum class role { ca, server, client };

// `issuer`/`issuer_key` null: self-signed. Validity in days from now (negative: the past).
cert_ptr make_cert(EVP_PKEY* key, const char* cn, long serial, role r, X509* issuer, EVP_PKEY* issuer_key,
                   long from_days, long to_days) {
  cert_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), to_days * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("echo-svc tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  switch (r) {
    case role::ca:
      add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
      break;
    case role::server:
      add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
      add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
      add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth");
      add_ext(cert.get(), signer, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost");
      break;
    case role::client:
      add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
      add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
      add_ext(cert.get(), signer, NID_ext_key_usage, "clientAuth");
      break;
  }
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

void write_cert(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "open certificate file");
  const bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  check(ok, "PEM_write_X509");
}

void write_key(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "open key file");
  const bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  check(ok, "PEM_write_PrivateKey");
}

}  // namespace

test_certs::test_certs() {
  char name[] = "/tmp/echo-svc-certs-XXXXXX";
  check(::mkdtemp(name) != nullptr, "mkdtemp");
  dir = name;
  try {
    const auto at = [&](const char* file) { return dir + "/" + file; };

    const key_ptr ca_key = make_key();
    const cert_ptr ca_cert = make_cert(ca_key.get(), "echo-test-ca", 1, role::ca, nullptr, nullptr, -1, 30);
    ca = at("ca.pem");
    write_cert(ca, ca_cert.get());

    const key_ptr other_key = make_key();
    const cert_ptr other_cert =
        make_cert(other_key.get(), "echo-test-other-ca", 2, role::ca, nullptr, nullptr, -1, 30);
    other_ca = at("other-ca.pem");
    write_cert(other_ca, other_cert.get());

    struct leaf {
      pair* out;
      const char* stem;
      const char* cn;
      long serial;
      role r;
      X509* issuer;
      EVP_PKEY* issuer_key;
      long from, to;
    };
    const leaf leaves[] = {
        {&server, "server", "echo-test-server", server_serial, role::server, ca_cert.get(), ca_key.get(), -1,
         30},
        {&server2, "server2", "echo-test-server-2", server2_serial, role::server, ca_cert.get(), ca_key.get(),
         -1, 30},
        {&expired, "expired", "echo-test-expired", 0x1003, role::server, ca_cert.get(), ca_key.get(), -30,
         -1},
        {&client, "client", "echo-test-client", 0x2001, role::client, ca_cert.get(), ca_key.get(), -1, 30},
        {&other_client, "other-client", "echo-test-other-client", 0x2002, role::client, other_cert.get(),
         other_key.get(), -1, 30},
    };
    for (const auto& l : leaves) {
      const key_ptr key = make_key();
      const cert_ptr cert = make_cert(key.get(), l.cn, l.serial, l.r, l.issuer, l.issuer_key, l.from, l.to);
      l.out->cert = at((std::string(l.stem) + ".pem").c_str());
      l.out->key = at((std::string(l.stem) + "-key.pem").c_str());
      write_cert(l.out->cert, cert.get());
      write_key(l.out->key, key.get());
    }
    broken = at("broken.pem");
    std::ofstream(broken) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    throw;
  }
}

test_certs::~test_certs() {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace echo::test
