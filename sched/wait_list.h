// WaitNode and the FIFO operations the sync primitives share. A node lives in the waiting
// party's frame; the list is guarded by the owning primitive's SpinLock.
#pragma once

#include "cohook/detail/wait_list.hpp"
#include "sched/baton.h"

namespace cohook::detail {

// Queued exactly when it has a predecessor or heads its list: every operation that unlinks a
// node clears its `prev`, so no flag is needed (a coroutine holds one node; a million parked
// ones would each pay for the flag's padding).
struct WaitNode {
  Baton baton;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
};

void push_back(WaitList& list, WaitNode* node);
WaitNode* pop_front(WaitList& list);
// False if the node was no longer queued (somebody popped it to wake it).
bool remove(WaitList& list, WaitNode* node);
// Empties the list; the nodes stay chained through `next`.
WaitNode* take_all(WaitList& list);
// Posts every node of a chain from take_all (reading each `next` before the post frees it).
void post_all(WaitNode* chain);

// The node a wait uses: the running coroutine's own (Coroutine::fresh_wait_node: never in a
// frame that a shared stack could copy away), or one in this frame on a plain thread.
class WaitNodeFor {
 public:
  WaitNodeFor();
  WaitNodeFor(const WaitNodeFor&) = delete;
  WaitNodeFor& operator=(const WaitNodeFor&) = delete;
  WaitNode* get() const { return node_; }
  WaitNode* operator->() const { return node_; }

 private:
  WaitNode own_;
  WaitNode* node_;
};

}  // namespace cohook::detail
