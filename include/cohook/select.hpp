// cohook::Select: Go's select statement over channel sends and receives.
//
//   cohook::Select()
//       .recv(jobs, [&](std::optional<Job> job) { ... })   // nullopt: jobs is closed
//       .send(results, r, [&] { ... })
//       .run_for(std::chrono::milliseconds(100));           // or run(), run_until(t), poll()
//
// Exactly one case completes and its callback runs; the others are not touched (a send that was
// not chosen sends nothing). When several cases are ready the choice is random, so no case
// starves. A recv case on a closed channel is ready (its callback gets nullopt), as in Go; a send
// case on a closed channel is ready too and its callback, if it takes a bool, gets false. A
// Select is used once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "cohook/channel.hpp"

namespace cohook {

class Select {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kDefault = -1;  // poll(): nothing was ready (Go's default case)
  static constexpr int kTimeout = -2;  // run_until/run_for: the deadline passed first

  Select() = default;
  Select(const Select&) = delete;
  Select& operator=(const Select&) = delete;

  // on_value(std::optional<T>): the value, or nullopt if the channel is closed and drained.
  template <class T, class F>
  Select& recv(Channel<T>& channel, F on_value) {
    auto slot = std::make_shared<std::optional<T>>();
    add(
        channel, detail::ChannelBase::Op::kRecv, slot.get(),
        [slot, f = std::move(on_value)](bool) mutable { f(std::move(*slot)); }, slot);
    return *this;
  }
  template <class T>
  Select& recv(Channel<T>& channel) {
    return recv(channel, [](std::optional<T>) {});
  }

  // on_sent() or on_sent(bool sent): sent is false if the channel was closed.
  template <class T, class F>
  Select& send(Channel<T>& channel, T value, F on_sent) {
    auto box = std::make_shared<T>(std::move(value));
    add(
        channel, detail::ChannelBase::Op::kSend, box.get(),
        [f = std::move(on_sent)](bool sent) mutable {
          if constexpr (std::is_invocable_v<F&, bool>)
            f(sent);
          else
            f();
        },
        box);
    return *this;
  }
  template <class T>
  Select& send(Channel<T>& channel, T value) {
    return send(channel, std::move(value), [] {});
  }

  // Waits until a case completes; returns its index (cases count from 0 in the order added).
  int run() {
    return finish(detail::ChannelBase::select(cases_.data(), cases_.size(), true, Clock::time_point::max(), &ok_));
  }
  // As run(), or kTimeout once the deadline passes.
  int run_until(Clock::time_point deadline) {
    return finish(detail::ChannelBase::select(cases_.data(), cases_.size(), true, deadline, &ok_));
  }
  template <class Rep, class Period>
  int run_for(std::chrono::duration<Rep, Period> timeout) {
    return run_until(detail::deadline_in(timeout));
  }
  // Go's select with a default case: completes a case only if one is ready now, else kDefault.
  int poll() {
    return finish(detail::ChannelBase::select(cases_.data(), cases_.size(), false, Clock::time_point::max(), &ok_));
  }

 private:
  void add(detail::ChannelBase& channel, detail::ChannelBase::Op op, void* value, std::function<void(bool)> done,
           std::shared_ptr<void> keep) {
    cases_.push_back(detail::ChannelBase::Case{&channel, op, value});
    done_.push_back(std::move(done));
    keep_.push_back(std::move(keep));
  }
  int finish(int index) {
    if (index >= 0) done_[static_cast<std::size_t>(index)](ok_);
    return index == detail::ChannelBase::kNotReady   ? kDefault
           : index == detail::ChannelBase::kTimedOut ? kTimeout
                                                     : index;
  }

  std::vector<detail::ChannelBase::Case> cases_;
  std::vector<std::function<void(bool)>> done_;
  std::vector<std::shared_ptr<void>> keep_;  // the values and slots, on the heap (shared stacks)
  bool ok_ = false;
};

}  // namespace cohook
