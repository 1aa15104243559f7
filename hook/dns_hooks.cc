// getaddrinfo, gethostbyname, gethostbyname_r. glibc's resolver talks to DNS servers through
// internal socket calls that no interposed symbol sees, and reads /etc/hosts with blocking file
// I/O, so inside a coroutine these run on the OffloadPool while the coroutine parks; the
// scheduler thread keeps running the others. Outside coroutines they are the real calls.
#include <errno.h>
#include <netdb.h>

#include <cstddef>
#include <vector>

#include "cohook/cohook.hpp"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/offload_pool.h"
#include "hook/real_functions.h"
#include "sched/coroutine.h"

using cohook::hook::cooperating_coroutine;
using cohook::hook::OffloadPool;
using cohook::hook::real_functions;

namespace {

// gethostbyname returns a pointer to static storage in libc, which concurrent coroutines (and
// the worker threads) would overwrite under each other; each coroutine gets its own instead,
// freed when it ends. The pointer stays valid until the same coroutine calls again, as libc's.
struct HostStorage {
  hostent entry{};
  std::vector<char> buffer = std::vector<char>(1024);
};

std::size_t host_storage_key() {
  static const std::size_t key = cohook::detail::allocate_local_key();
  return key;
}

HostStorage& host_storage(cohook::Coroutine* coroutine) {
  std::size_t key = host_storage_key();
  auto* storage = static_cast<HostStorage*>(coroutine->local(key));
  if (storage == nullptr) {
    storage = new HostStorage;
    coroutine->set_local(key, storage, [](void* value) { delete static_cast<HostStorage*>(value); });
  }
  return *storage;
}

struct GethostbynameR {
  const char* name;
  hostent* entry;
  char* buffer;
  size_t size;
  hostent** result;
  int* error;
  int return_value;
};

void run_gethostbyname_r(void* context) {
  auto* call = static_cast<GethostbynameR*>(context);
  call->return_value =
      real_functions.gethostbyname_r(call->name, call->entry, call->buffer, call->size, call->result, call->error);
}

int offloaded_gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size, hostent** result,
                              int* error) {
  GethostbynameR call{name, entry, buffer, size, result, error, 0};
  OffloadPool::instance().run(run_gethostbyname_r, &call, "gethostbyname_r");
  return call.return_value;
}

}  // namespace

COHOOK_INTERPOSE int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  if (cooperating_coroutine() == nullptr) return real_functions.getaddrinfo(node, service, hints, result);
  struct Call {
    const char* node;
    const char* service;
    const addrinfo* hints;
    addrinfo** result;
    int return_value;
  } call{node, service, hints, result, 0};
  OffloadPool::instance().run(
      [](void* context) {
        auto* c = static_cast<Call*>(context);
        c->return_value = real_functions.getaddrinfo(c->node, c->service, c->hints, c->result);
      },
      &call, "getaddrinfo");
  return call.return_value;
}

COHOOK_INTERPOSE int gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size, hostent** result,
                                     int* error) {
  if (cooperating_coroutine() == nullptr) return real_functions.gethostbyname_r(name, entry, buffer, size, result, error);
  return offloaded_gethostbyname_r(name, entry, buffer, size, result, error);
}

COHOOK_INTERPOSE hostent* gethostbyname(const char* name) {
  cohook::Coroutine* coroutine = cooperating_coroutine();
  if (coroutine == nullptr) return real_functions.gethostbyname(name);
  HostStorage& storage = host_storage(coroutine);
  hostent* result = nullptr;
  int error = 0;
  for (;;) {
    int status = offloaded_gethostbyname_r(name, &storage.entry, storage.buffer.data(), storage.buffer.size(),
                                           &result, &error);
    if (status != ERANGE) break;
    storage.buffer.resize(storage.buffer.size() * 2);  // too small for this host's aliases
  }
  h_errno = error;  // h_errno is per thread in libc; the coroutine reads it before it yields
  return result;
}

const char cohook::hook::link_anchor::dns_hooks = 0;
