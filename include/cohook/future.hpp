// cohook::Future<T>: the handle go() and Runtime::spawn return for a function with a result
// (Rust's JoinHandle<T>, std::future from std::async, boost::fibers::async). join() waits and
// returns the value, or rethrows the exception the function threw.
#pragma once

#include <cxxabi.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "cohook/cohook.hpp"

namespace cohook {
namespace detail {

// An exception nobody will ever see: reported on stderr (demangled type and what()) with the
// coroutine's id, then std::terminate, as an exception escaping a go() coroutine is.
[[noreturn]] COHOOK_API void terminate_unjoined(std::uint64_t coroutine_id, const std::exception_ptr& error);

template <class T>
struct FutureState {
  std::optional<T> value;
  std::exception_ptr error;
  std::uint64_t coroutine_id = 0;
  bool retrieved = false;
  FutureState() = default;
  FutureState(const FutureState&) = delete;
  FutureState& operator=(const FutureState&) = delete;
  ~FutureState() {
    if (error && !retrieved) terminate_unjoined(coroutine_id, error);
  }

  template <class F>
  void run(F& fn) {
    coroutine_id = this_coroutine::id();
    try {
      value.emplace(fn());
    } catch (abi::__forced_unwind&) {
      throw;  // thread cancellation must unwind on, never be stored
    } catch (...) {
      error = std::current_exception();
    }
  }
};

}  // namespace detail

template <class T>
class Future {
  static_assert(!std::is_reference_v<T>, "a coroutine's result is returned by value");

 public:
  Future() = default;
  Future(JoinHandle handle, std::shared_ptr<detail::FutureState<T>> state)
      : handle_(std::move(handle)), state_(std::move(state)) {}
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;

  bool joinable() const { return handle_.joinable(); }
  std::uint64_t id() const { return handle_.id(); }
  // Waits until the coroutine has finished (parks, or blocks a plain thread); returns its value
  // or rethrows its exception. Once: afterwards the Future is empty.
  T join() {
    handle_.join();  // throws std::logic_error if empty
    std::shared_ptr<detail::FutureState<T>> state = std::move(state_);
    if (state->error) {
      state->retrieved = true;
      std::rethrow_exception(state->error);
    }
    return std::move(*state->value);
  }
  // Lets the coroutine run on unobserved. If it then throws, the exception is reported and the
  // program terminates, as for go(): nobody is left to handle it.
  void detach() {
    handle_.detach();
    state_.reset();
  }

 private:
  JoinHandle handle_;
  std::shared_ptr<detail::FutureState<T>> state_;
};

namespace detail {
template <class F, class Start>
auto start_with_future(F&& fn, Start start) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  auto state = std::make_shared<FutureState<R>>();
  JoinHandle handle = start(std::function<void()>([state, fn = std::forward<F>(fn)]() mutable { state->run(fn); }));
  return Future<R>(std::move(handle), std::move(state));
}
}  // namespace detail

template <class F>
requires(!std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>) Future < std::invoke_result_t < std::decay_t<F>
& >> go(F&& fn, SpawnOptions options) {
  return detail::start_with_future(std::forward<F>(fn),
                                   [&](std::function<void()> body) { return go(std::move(body), std::move(options)); });
}

template <class F>
requires(!std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>) Future < std::invoke_result_t < std::decay_t<F>
& >> Runtime::spawn(F&& fn, SpawnOptions options) {
  return detail::start_with_future(
      std::forward<F>(fn), [&](std::function<void()> body) { return spawn(std::move(body), std::move(options)); });
}

}  // namespace cohook
