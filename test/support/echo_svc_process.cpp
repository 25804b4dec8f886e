#include "echo_svc_process.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace echo::test {

bool parse_ready_line(const std::string& line, std::string& address, std::uint16_t& port) {
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0) return false;
  const auto colon = line.rfind(':');
  if (colon == std::string::npos || colon <= prefix.size()) return false;
  const auto digits = line.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const unsigned long p = std::stoul(digits);
  if (p == 0 || p > 65535) return false;
  address = line.substr(prefix.size(), colon - prefix.size());
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
