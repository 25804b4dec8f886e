#include "echo_svc_process.hpp"

#include <algorithm>
#include <chrono>
#include <regex>
#include <stdexcept>

namespace echo::test {

bool parse_ready_line(const std::string& line, std::string& address, std::uint16_t& port) {
  static const std::regex re(R"(^listening on (.+):([0-9]{1,5})$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) return false;
  const unsigned long p = std::stoul(m[2]);
  if (p == 0 || p > 65535) return false;
  address = m[1];
  port = static_cast<std::uint16_t>(p);
  return true;
}

echo_svc_process::echo_svc_process(std::vector<std::string> args) {
  std::vector<std::string> argv{echo_svc_path()};
  if (std::find(args.begin(), args.end(), "--port") == args.end()) {
    argv.insert(argv.end(), {"--port", "0"});
  }
  if (std::find(args.begin(), args.end(), "--bind") == args.end()) {
    argv.insert(argv.end(), {"--bind", "127.0.0.1"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  child = std::make_unique<child_process>(argv);
  // Sanitizer builds start slower; 10 s is a deadline, not an expectation.
  const auto line = child->read_line(std::chrono::seconds(10));
  if (!line) throw std::runtime_error("no ready line; stderr: " + child->stderr_text());
  ready_line = *line;
  if (!parse_ready_line(ready_line, address, port))
    throw std::runtime_error("malformed ready line: '" + ready_line + "'");
}

}  // namespace echo::test
