#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace echo::test {
namespace {

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

[[noreturn]] void fail(const char* what, int rc) {
  throw std::runtime_error(std::string(what) + " failed: " + std::strerror(rc));
}

// posix_spawn_file_actions_t with its destroy on every path.
class spawn_actions {
 public:
  spawn_actions() {
    if (const int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0)
      fail("posix_spawn_file_actions_init", rc);
  }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
  ~spawn_actions() { ::posix_spawn_file_actions_destroy(&actions_); }

  void dup2(int from, int to) {
    if (const int rc = ::posix_spawn_file_actions_adddup2(&actions_, from, to); rc != 0)
      fail("posix_spawn_file_actions_adddup2", rc);
  }
  const posix_spawn_file_actions_t* get() const noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

// posix_spawnattr_t that gives the child default dispositions for every catchable signal
// and `blocked` as its mask, with its destroy on every path.
class spawn_attributes {
 public:
  explicit spawn_attributes(const std::vector<int>& blocked) {
    if (const int rc = ::posix_spawnattr_init(&attrs_); rc != 0) fail("posix_spawnattr_init", rc);
    sigset_t all;
    sigfillset(&all);
    sigset_t mask;
    sigemptyset(&mask);
    for (const int n : blocked) sigaddset(&mask, n);
    int rc = ::posix_spawnattr_setsigdefault(&attrs_, &all);
    if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attrs_, &mask);
    if (rc == 0) rc = ::posix_spawnattr_setflags(&attrs_, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (rc != 0) {
      ::posix_spawnattr_destroy(&attrs_);
      fail("posix_spawnattr_set*", rc);
    }
  }
  spawn_attributes(const spawn_attributes&) = delete;
  spawn_attributes& operator=(const spawn_attributes&) = delete;
  ~spawn_attributes() { ::posix_spawnattr_destroy(&attrs_); }

  const posix_spawnattr_t* get() const noexcept { return &attrs_; }

 private:
  posix_spawnattr_t attrs_;
};

[[noreturn]] void fail_errno(const char* what) {
  throw std::runtime_error(std::string(what) + " failed: " + std::strerror(errno));
}

}  // namespace

std::string echo_svc_path() { return ECHO_SVC_PATH; }

child_process::child_process(std::vector<std::string> argv, const std::vector<std::pair<int, int>>& inherit,
                             const std::vector<int>& blocked) {
  // The file is reached through descriptors only (the child's stderr, and ours to read it
  // back), so its name goes at once: nothing is left in /tmp however the test ends.
  char err_path[] = "/tmp/echo-child-stderr-XXXXXX";
  err_fd_.reset(::mkostemp(err_path, O_CLOEXEC));
  if (!err_fd_) fail_errno("mkostemp");
  ::unlink(err_path);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) fail_errno("pipe2");
  unique_fd out_read(out[0]);
  unique_fd out_write(out[1]);

  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  {
    spawn_actions actions;
    actions.dup2(out_write.get(), STDOUT_FILENO);
    actions.dup2(err_fd_.get(), STDERR_FILENO);
    // dup2 clears close-on-exec on the copy; `ours` must not be a descriptor listed as theirs.
    for (const auto& [ours, theirs] : inherit) actions.dup2(ours, theirs);
    spawn_attributes attrs(blocked);
    if (const int rc = ::posix_spawn(&pid_, args[0], actions.get(), attrs.get(), args.data(), environ);
        rc != 0)
      throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
  }
  out_write.reset();  // the child holds the only write end: its exit is our EOF
  out_fd_ = std::move(out_read);
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd_) {
    const int e = errno;
    // A constructor that throws gets no destructor call: reap the child here.
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw std::runtime_error(std::string("pidfd_open failed: ") + std::strerror(e));
  }
}

child_process::~child_process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(5));
  }
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = out_buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = out_buffer_.substr(0, nl);
      out_buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd p{out_fd_.get(), POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::read(out_fd_.get(), buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    out_buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

void child_process::signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  // pidfd becomes readable when the child exits: a deadline-bounded wait with no polling loop.
  pollfd p{pidfd_.get(), POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    break;
  }
  int st = 0;
  if (::waitpid(pid_, &st, 0) != pid_) return std::nullopt;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return status_;
}

std::string child_process::stderr_text() const {
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::pread(err_fd_.get(), buf, sizeof buf, static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace echo::test
