#include "detail/expected_end.hpp"

#include <boost/asio/error.hpp>

namespace echo::detail {

bool is_expected_end(const boost::system::error_code& ec) noexcept {
  namespace error = boost::asio::error;
  return ec == error::eof || ec == error::connection_reset || ec == error::operation_aborted ||
         ec == error::broken_pipe || ec == error::connection_aborted || ec == error::not_connected ||
         ec == error::bad_descriptor;
}

}  // namespace echo::detail
