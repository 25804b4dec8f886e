#include "echo/ready_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "echo/setup_error.hpp"

namespace echo {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int error) {
  const std::error_code ec(error, std::system_category());
  throw setup_error(fmt::format("cannot {} ready file {}: {}", what, path, ec.message()), ec);
}

}  // namespace

ready_file::ready_file(std::string path, std::string_view text) : path_(std::move(path)) {
  // Same directory, so the rename cannot cross file systems; the pid keeps two instances
  // pointed at one path from writing into each other's temporary file.
  const std::string temp = fmt::format("{}.{}.tmp", path_, ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("create", temp, errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(temp.c_str());
      fail("write", temp, error);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    fail("write", temp, error);
  }
  if (std::rename(temp.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    fail("rename into place the", path_, error);
  }
}

ready_file::~ready_file() { ::unlink(path_.c_str()); }

}  // namespace echo
