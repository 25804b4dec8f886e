#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace echo::test {

/// A file in /tmp holding `text`, removed when the object goes.
struct temp_file {
  explicit temp_file(const std::string& text) {
    char name[] = "/tmp/echo-svc-test-XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path = name;
    std::ofstream(path) << text;
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  ~temp_file() { std::remove(path.c_str()); }

  std::string path;
};

}  // namespace echo::test
