// Lock cycles, reported the moment they close. Every lock that takes part records its owner (a
// Coroutine* for cohook::Mutex, a green thread id for an emulated pthread mutex, stored on each
// acquisition: no lock taken). A coroutine about to park for good on a
// lock (an untimed wait) enters "I wait for L" in the wait-for graph and follows owner -> lock
// it waits for -> owner... If the walk comes back to itself, the coroutines on the way wait for
// each other and none will ever run again: their names, the locks each holds and waits for, and
// their stacks go to stderr once. Timed waits are left out: they end by themselves.
//
// The graph is a table under one mutex, touched only on the slow path (a coroutine that parks
// on a lock). The walk dereferences only locks that have a registered waiter (alive: destroying a
// lock somebody waits on is already a bug) and uses owners only as keys.
#pragma once

#include <atomic>
#include <cstdint>

namespace cohook {
class Coroutine;
}

namespace cohook::diag {

// Before an untimed park on `lock` (whose owner slot is `owner`), inside a coroutine. `kind`
// names it in reports ("mutex", "pthread mutex").
void note_waiting_for_lock(const void* lock, const std::atomic<Coroutine*>* owner, const char* kind);
// The same for a lock that records its owner as a 32-bit thread id (green mode's emulated
// pthread mutexes: the id of the green thread holding it, 0 for nobody). `self_id` is the
// caller's id in that numbering, so that a lock it holds leads back to this coroutine.
void note_waiting_for_lock(const void* lock, const std::atomic<std::uint32_t>* owner_id, std::uint32_t self_id,
                           const char* kind);
// After that park, however it ended.
void note_done_waiting_for_lock();

}  // namespace cohook::diag
