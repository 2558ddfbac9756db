// Runs a program as a child process for the integration suites. No shell is
// involved, so arguments need no quoting.
// - run_process: feeds it stdin text, waits, collects exit code and output.
// - child_process: starts it in the background; a thread drains its stdout
//   and stderr, so that tests can wait for a line, send signals and wait for
//   the exit with a deadline.
#pragma once

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rpcbatch::test {

/// In a forked child: wires stdin, stdout and stderr, restores the default
/// signal state, and executes `args` (exit code 127 if that fails). Only
/// async-signal-safe calls between fork and exec.
[[noreturn]] inline void exec_child(char* const* args, int in, int out,
                                    int err) {
  if (in >= 0)
    dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  std::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execv(args[0], args);
  _exit(127);
}

struct process_result {
  /// The exit code; 128 + N when killed by signal N; -1 if it never ran.
  int exit_code = -1;
  std::string out;
  std::string err;
  /// True when the timeout killed it.
  bool timed_out = false;
};

/// Runs `argv` (argv[0] is a path), writes `input` to its stdin and closes
/// it, and waits until it exits; after `timeout` it is killed.
inline process_result
run_process(const std::vector<std::string>& argv, const std::string& input = "",
            std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
  process_result result;
  // Writing to a child that has exited must not kill this process.
  std::signal(SIGPIPE, SIG_IGN);
  int in[2];
  int out[2];
  int err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0
      || pipe2(err, O_CLOEXEC) != 0) {
    result.err = "pipe2 failed";
    return result;
  }
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto pid = fork();
  if (pid == 0)
    exec_child(args.data(), in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    result.err = "fork failed";
    return result;
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  int to_child = in[1];
  if (input.empty()) {
    close(to_child);
    to_child = -1;
  }
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0},
                   {to_child, POLLOUT, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      result.timed_out = true;
      break;
    }
    if (poll(fds, 3, static_cast<int>(left.count())) < 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      char buf[4096];
      auto n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) {
      auto n = write(fds[2].fd, input.data() + written, input.size() - written);
      if (n > 0)
        written += static_cast<std::size_t>(n);
      bool broken = n < 0 && errno != EAGAIN && errno != EINTR;
      if (broken || written == input.size()) {
        close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      close(f.fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

/// A program running in the background with stdin closed and stdout and
/// stderr captured. The destructor kills it (SIGKILL) if it still runs, so a
/// failing test never leaves a child behind.
class child_process {
public:
  using clock_type = std::chrono::steady_clock;

  /// Starts `argv` (argv[0] is a path); throws std::runtime_error if it
  /// cannot be started (a missing program exits with code 127 instead).
  explicit child_process(const std::vector<std::string>& argv) {
    std::signal(SIGPIPE, SIG_IGN);
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    if (pipe2(err, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      throw std::runtime_error("pipe2 failed");
    }
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0)
      exec_child(args.data(), open("/dev/null", O_RDONLY), out[1], err[1]);
    close(out[1]);
    close(err[1]);
    if (pid_ < 0) {
      close(out[0]);
      close(err[0]);
      throw std::runtime_error("fork failed");
    }
    reader_ = std::thread([this, o = out[0], e = err[0]] { drain(o, e); });
    reaper_ = std::thread([this] { reap(); });
  }

  /// Kills the child if it still runs and waits for it.
  ~child_process() {
    signal(SIGKILL);
    reaper_.join();
    reader_.join();
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const {
    return pid_;
  }

  /// Sends `sig` unless the child was already reaped; false if it was.
  bool signal(int sig) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (exit_code_)
      return false;
    return ::kill(pid_, sig) == 0;
  }

  /// The exit code (128 + N when killed by signal N) once the child exited.
  std::optional<int> exit_code() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return exit_code_;
  }

  /// Waits up to `timeout` for the exit; the exit code, or nothing if the
  /// child still runs.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, timeout, [this] { return exit_code_.has_value(); });
    return exit_code_;
  }

  /// Kills the child (SIGKILL) and waits for it; returns the exit code.
  int kill_and_wait() {
    signal(SIGKILL);
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return exit_code_.has_value(); });
    return *exit_code_;
  }

  /// Everything the child wrote to stdout so far (all of it once exited and
  /// the pipes are drained; see wait_output_closed).
  std::string out() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return out_;
  }

  std::string err() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return err_;
  }

  /// Waits up to `timeout` until stderr contains `text`; false on timeout or
  /// if the child closed stderr without writing it.
  bool wait_for_stderr(const std::string& text,
                       std::chrono::milliseconds timeout) {
    return wait_until_output(
      [&] { return err_.find(text) != std::string::npos; }, timeout);
  }

  bool wait_for_stdout(const std::string& text,
                       std::chrono::milliseconds timeout) {
    return wait_until_output(
      [&] { return out_.find(text) != std::string::npos; }, timeout);
  }

  /// Waits until both pipes reached their end (after the exit: every byte
  /// the child wrote is captured).
  bool wait_output_closed(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [this] { return pipes_closed_; });
  }

private:
  /// `pred` runs under the lock, on out_ and err_.
  bool wait_until_output(const std::function<bool()>& pred,
                         std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, timeout, [&] { return pred() || pipes_closed_; });
    return pred();
  }

  void drain(int out_fd, int err_fd) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
      if (poll(fds, 2, -1) < 0)
        continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0)
          continue;
        char buf[16384];
        auto n = read(fds[i].fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
          continue;
        std::lock_guard<std::mutex> guard{mtx_};
        if (n > 0) {
          (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
        } else {
          close(fds[i].fd);
          fds[i].fd = -1;
        }
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> guard{mtx_};
    pipes_closed_ = true;
    cv_.notify_all();
  }

  /// Waits for the exit without reaping, then reaps under the lock, so that
  /// signal() never hits a reused process id.
  void reap() {
    siginfo_t info{};
    while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0
           && errno == EINTR) {
      // retry
    }
    std::lock_guard<std::mutex> guard{mtx_};
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      // retry
    }
    if (WIFEXITED(status))
      exit_code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code_ = 128 + WTERMSIG(status);
    else
      exit_code_ = -1;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::string out_;
  std::string err_;
  bool pipes_closed_ = false;
  std::optional<int> exit_code_;
  std::thread reader_;
  std::thread reaper_;
};

} // namespace rpcbatch::test
