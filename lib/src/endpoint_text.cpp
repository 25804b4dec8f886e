#include "echo/endpoint_text.hpp"

#include <fmt/format.h>

namespace echo {

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep) {
  const auto address = ep.address();
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), ep.port());
  return fmt::format("{}:{}", address.to_string(), ep.port());
}

}  // namespace echo
