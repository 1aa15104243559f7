// cohook::TaskGroup. A member's last touch of the group is the unlock after its count goes
// down (the waiter reads the count under the same lock), so the group may be destroyed the
// moment wait() returns.
#include "cohook/task_group.hpp"

#include <cxxabi.h>

#include <cstdio>

#include "sched/exception_report.h"
#include "sched/wait_list.h"

namespace cohook {

TaskGroup::~TaskGroup() {
  wait_for_members();
  if (first_error_ && std::uncaught_exceptions() == 0)
    std::fprintf(stderr, "cohook: TaskGroup destroyed with a member's exception nobody wait()ed for: %s\n",
                 describe_exception(first_error_).c_str());
}

void TaskGroup::spawn(std::function<void()> fn, SpawnOptions options) {
  queue_lock_.lock();
  ++running_;
  queue_lock_.unlock();
  auto member = [this, fn = std::move(fn)]() mutable {
    std::exception_ptr error;
    try {
      fn();
    } catch (abi::__forced_unwind&) {
      throw;  // thread cancellation unwinds on
    } catch (...) {
      error = std::current_exception();
    }
    fn = nullptr;  // the member's captures die before the group may
    member_finished(std::move(error));
  };
  try {
    if (runtime_ != nullptr)
      runtime_->spawn(std::move(member), std::move(options));
    else
      go(std::move(member), std::move(options));
  } catch (...) {
    member_finished(nullptr);  // it never started
    throw;
  }
}

void TaskGroup::member_finished(std::exception_ptr error) {
  if (error) cancel();
  queue_lock_.lock();
  if (error && !first_error_) first_error_ = std::move(error);
  detail::WaitNode* chain = --running_ == 0 ? detail::take_all(waiters_) : nullptr;
  queue_lock_.unlock();
  detail::post_all(chain);
}

void TaskGroup::wait_for_members() {
  detail::WaitNodeFor node;
  queue_lock_.lock();
  if (running_ == 0) {
    queue_lock_.unlock();
    return;
  }
  detail::push_back(waiters_, node.get());
  queue_lock_.unlock();
  node->baton.wait("task_group");
}

void TaskGroup::wait() {
  wait_for_members();
  queue_lock_.lock();
  std::exception_ptr error = std::move(first_error_);
  first_error_ = nullptr;
  queue_lock_.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace cohook
