#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace echo {

/// "127.0.0.1:7007", "[::1]:7007": the port is always after the last ':'.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace echo
