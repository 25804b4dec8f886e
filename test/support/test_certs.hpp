#pragma once

#include <string>

namespace echo::test {

/// Certificates for TLS tests, made fresh in a temporary directory when constructed (with
/// the OpenSSL API: no private key is ever committed) and removed with it. P-256 keys, so
/// the whole set takes milliseconds. Every certificate has its own serial number.
struct test_certs {
  /// A PEM certificate and its key.
  struct pair {
    std::string cert;
    std::string key;
  };

  test_certs();
  test_certs(const test_certs&) = delete;
  test_certs& operator=(const test_certs&) = delete;
  ~test_certs();

  std::string dir;
  std::string ca;        ///< the CA everything below is signed by
  pair server;           ///< CN echo-test-server, serial 0x1001; SAN 127.0.0.1, ::1, localhost
  pair server2;          ///< the same names, CN echo-test-server-2, serial 0x1002 (for reloads)
  pair expired;          ///< the same names, expired yesterday
  pair client;           ///< client certificate (CN echo-test-client)
  std::string other_ca;  ///< an unrelated CA
  pair other_client;     ///< a client certificate signed by other_ca
  std::string broken;    ///< a file that is not PEM at all

  static constexpr long server_serial = 0x1001;
  static constexpr long server2_serial = 0x1002;
};

}  // namespace echo::test
