#include "haproxy_process.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "unique_fd.hpp"

namespace echo::test {
namespace {

namespace fs = std::filesystem;

// Another process may take the port between our probe and haproxy's bind: a few retries.
constexpr int max_start_attempts = 5;
constexpr auto start_deadline = std::chrono::seconds(10);
// How long one wait for haproxy's listener lasts before /proc is read again; it is a wait
// on the process's exit, so an early exit is seen at once.
constexpr auto listen_check_interval = std::chrono::milliseconds(20);

// A port on 127.0.0.1 that was free a moment ago. haproxy's frontends cannot bind port 0 in
// a way we could read back, so the kernel picks one for a probe socket, which is then closed.
std::uint16_t probe_free_port() {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::system_error(errno, std::generic_category(), "probe bind to 127.0.0.1:0");
  return ntohs(addr.sin_port);
}

std::string server_options(haproxy_process::header kind) {
  switch (kind) {
    case haproxy_process::header::v1: return "send-proxy";
    case haproxy_process::header::v2: return "send-proxy-v2";
    case haproxy_process::header::v2_tlvs: return "send-proxy-v2 proxy-v2-options crc32c,unique-id";
  }
  return "";
}

std::string config_text(std::uint16_t port, const std::string& backend_host, std::uint16_t backend_port,
                        haproxy_process::header kind) {
  // An IPv6 server address needs its family spelled out, or the last ':' is ambiguous.
  const std::string server =
      backend_host.find(':') == std::string::npos ? backend_host : "ipv6@" + backend_host;
  return fmt::format(
      "global\n"
      "  maxconn 64\n"
      "  nbthread 1\n"
      "defaults\n"
      "  mode tcp\n"
      "  timeout connect 5s\n"
      "  timeout client 30s\n"
      "  timeout server 30s\n"
      // Gives the unique-id TLV something to carry.
      "  unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt\n"
      "frontend fe\n"
      "  bind 127.0.0.1:{}\n"
      "  default_backend be\n"
      "backend be\n"
      "  server s1 {}:{} {}\n",
      port, server, backend_port, server_options(kind));
}

// The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp.
std::optional<std::string> listening_inode(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column names
  const std::string local = fmt::format("0100007F:{:04X}", port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local_address >> remote_address >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (local_address == local && state == "0A") return inode;
  }
  return std::nullopt;
}

// Whether process `pid` holds the socket with this inode: the listener is haproxy's, not
// some other process's that took the port.
bool holds_socket(pid_t pid, const std::string& inode) {
  const std::string target = "socket:[" + inode + "]";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::error_code link_ec;
    if (fs::read_symlink(entry.path(), link_ec).string() == target) return true;
  }
  return false;
}

}  // namespace

std::string find_haproxy() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::istringstream in(path);
    std::string dir;
    while (std::getline(in, dir, ':'))
      if (!dir.empty()) dirs.push_back(dir);
  }
  // Debian installs it in sbin, which a non-root PATH may leave out.
  dirs.insert(dirs.end(), {"/usr/sbin", "/usr/local/sbin", "/sbin"});
  for (const auto& dir : dirs) {
    const std::string candidate = dir + "/haproxy";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

haproxy_process::haproxy_process(const std::string& backend_host, std::uint16_t backend_port, header kind) {
  const std::string binary = find_haproxy();
  if (binary.empty()) throw std::runtime_error("haproxy is not installed");
  std::string last_error;
  for (int attempt = 0; attempt < max_start_attempts; ++attempt) {
    const std::uint16_t port = probe_free_port();
    config_ = std::make_unique<temp_file>(config_text(port, backend_host, backend_port, kind));
    child_ = std::make_unique<child_process>(std::vector<std::string>{binary, "-f", config_->path, "-db"});
    const auto deadline = std::chrono::steady_clock::now() + start_deadline;
    while (std::chrono::steady_clock::now() < deadline) {
      if (const auto inode = listening_inode(port); inode && holds_socket(child_->pid(), *inode)) {
        port_ = port;
        return;
      }
      if (const auto code = child_->wait(listen_check_interval)) {
        last_error =
            fmt::format("haproxy exited with {} on 127.0.0.1:{}: {}", *code, port, child_->stderr_text());
        break;
      }
    }
    const std::string err = child_->stderr_text();
    // Only a lost race for the port is worth another try.
    if (err.find("cannot bind") == std::string::npos && err.find("in use") == std::string::npos) {
      if (last_error.empty()) last_error = "haproxy did not listen within 10 s: " + err;
      child_.reset();
      throw std::runtime_error(last_error);
    }
    child_.reset();
  }
  throw std::runtime_error(
      fmt::format("haproxy could not bind a port in {} attempts: {}", max_start_attempts, last_error));
}

haproxy_process::~haproxy_process() {
  if (!child_) return;
  // SIGTERM is haproxy's immediate stop; the child's own destructor kills it if it lingers.
  child_->signal(SIGTERM);
  child_->wait(std::chrono::seconds(5));
}

std::string haproxy_process::stderr_text() const { return child_ ? child_->stderr_text() : std::string(); }

}  // namespace echo::test
