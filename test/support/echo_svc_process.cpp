#include "echo_svc_process.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <boost/test/unit_test.hpp>

#include "server_fixture.hpp"

namespace echo::test {

exit_outcome run_to_exit(std::vector<std::string> args, const std::vector<std::string>& env) {
  using namespace std::chrono_literals;
  args.insert(args.begin(), echo_svc_path());
  if (!env.empty()) {
    args.insert(args.begin(), env.begin(), env.end());
    args.insert(args.begin(), "/usr/bin/env");
  }
  child_process p(args);
  std::string out;
  while (auto line = p.read_line(10s)) out += *line + "\n";
  const auto code = p.wait(10s);
  BOOST_REQUIRE_MESSAGE(code.has_value(), "echo-svc did not exit");
  return {*code, out, p.stderr_text()};
}

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
  if (splice_forced() && std::find(args.begin(), args.end(), "--splice") == args.end()) {
    argv.insert(argv.end(), {"--splice", "always"});
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
