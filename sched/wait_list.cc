#include "sched/wait_list.h"

#include <pthread.h>

#include "sched/coroutine.h"
#include "sched/spin_wait.h"

namespace cohook::detail {

// 1 in the process that loaded cohook (a held lock reads as `true` did before marks).
std::atomic<std::uint8_t> g_spin_lock_mark{1};

namespace {
void next_mark_in_child() {
  std::uint8_t mark = g_spin_lock_mark.load(std::memory_order_relaxed);
  g_spin_lock_mark.store(static_cast<std::uint8_t>(mark % 255 + 1), std::memory_order_relaxed);
}

// Before every other fork handler of cohook (they are registered later, and child handlers run
// in the order of registration): those take spin locks in the child.
__attribute__((constructor(101))) void register_mark_handler() {
  ::pthread_atfork(nullptr, nullptr, &next_mark_in_child);
}
}  // namespace

void SpinLock::wait_unlocked() {
  // Critical sections are a few instructions; spin a little, then let the holder's thread run.
  int spins = 0;
  while (locked_.load(std::memory_order_relaxed)) spin_then_yield(spins);
}

WaitNodeFor::WaitNodeFor() {
  Coroutine* self = Coroutine::current();
  node_ = self != nullptr ? &self->fresh_wait_node() : &own_;
}

void push_back(WaitList& list, WaitNode* node) {
  node->next = nullptr;
  node->prev = list.tail;
  if (list.tail != nullptr) list.tail->next = node;
  else list.head = node;
  list.tail = node;
}

WaitNode* pop_front(WaitList& list) {
  for (;;) {
    WaitNode* node = list.head;
    if (node == nullptr) return nullptr;
    list.head = node->next;
    if (list.head != nullptr) list.head->prev = nullptr;
    else list.tail = nullptr;
    node->next = node->prev = nullptr;
    // In a forked child, a waiter from before the fork is gone (Baton::waiter_vanished): what
    // the caller hands over (a mutex, a count) goes to the next one instead.
    if (!node->baton.waiter_vanished()) return node;
  }
}

bool remove(WaitList& list, WaitNode* node) {
  if (node->prev == nullptr && list.head != node) return false;
  if (node->prev != nullptr) node->prev->next = node->next;
  else list.head = node->next;
  if (node->next != nullptr) node->next->prev = node->prev;
  else list.tail = node->prev;
  node->next = node->prev = nullptr;
  return true;
}

WaitNode* take_all(WaitList& list) {
  WaitNode* chain = list.head;
  for (WaitNode* n = chain; n != nullptr; n = n->next) n->prev = nullptr;  // unqueued; `next` chains them
  list.head = list.tail = nullptr;
  return chain;
}

void post_all(WaitNode* chain) {
  while (chain != nullptr) {
    WaitNode* next = chain->next;
    chain->baton.post();
    chain = next;
  }
}

}  // namespace cohook::detail
