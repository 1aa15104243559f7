// getaddrinfo, getnameinfo, gethostbyname(_r), gethostbyname2(_r), gethostbyaddr(_r). glibc's
// resolver talks to DNS servers through
// internal socket calls that no interposed symbol sees, and reads /etc/hosts with blocking file
// I/O, so inside a coroutine these run on the OffloadPool while the coroutine parks; the
// scheduler thread keeps running the others. Outside coroutines they are the real calls. The
// pool grows to 64 threads, so slow names (a server that does not answer) do not delay quick
// ones. A lookup is not interrupted by signals (glibc's resolver retries after EINTR itself).
#include <errno.h>
#include <netdb.h>

#include <cstddef>
#include <vector>

#include "cohook/cohook.hpp"
#include "hook/interpose.h"
#include "hook/trace.h"
#include "hook/trace_points.h"
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

// Runs fn() on the offload pool while the coroutine parks.
template <class Fn>
void run_offloaded(const char* what, Fn& fn) {
  OffloadPool::instance().run([](void* context) { (*static_cast<Fn*>(context))(); }, &fn, what);
}

// The non-reentrant calls: fill the coroutine's own storage with the reentrant call, growing
// its buffer while the call says ERANGE; h_errno as libc sets it.
template <class Reentrant>
hostent* into_host_storage(cohook::Coroutine* coroutine, const char* what, Reentrant reentrant) {
  HostStorage& storage = host_storage(coroutine);
  hostent* result = nullptr;
  int error = 0;
  for (;;) {
    int status = 0;
    auto call = [&] { status = reentrant(&storage.entry, storage.buffer.data(), storage.buffer.size(), &result, &error); };
    run_offloaded(what, call);
    if (status != ERANGE) break;
    storage.buffer.resize(storage.buffer.size() * 2);  // too small for this host's aliases
  }
  h_errno = error;  // h_errno is per thread in libc; the coroutine reads it before it yields
  return result;
}

using GethostbynameFn = hostent* (*)(const char*);
using Gethostbyname2Fn = hostent* (*)(const char*, int);
using Gethostbyname2RFn = int (*)(const char*, int, hostent*, char*, size_t, hostent**, int*);
using GethostbyaddrFn = hostent* (*)(const void*, socklen_t, int);
using GethostbyaddrRFn = int (*)(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*);
using GetnameinfoFn = int (*)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int);

// Fallbacks (only reached from inside dlsym): fail as the contracts allow.
hostent* no_gethostbyname2(const char*, int) {
  h_errno = NO_RECOVERY;
  return nullptr;
}
int no_gethostbyname2_r(const char*, int, hostent*, char*, size_t, hostent** result, int* error) {
  *result = nullptr;
  *error = NO_RECOVERY;
  return ENOSYS;
}
hostent* no_gethostbyaddr(const void*, socklen_t, int) {
  h_errno = NO_RECOVERY;
  return nullptr;
}
int no_gethostbyaddr_r(const void*, socklen_t, int, hostent*, char*, size_t, hostent** result, int* error) {
  *result = nullptr;
  *error = NO_RECOVERY;
  return ENOSYS;
}
int no_getnameinfo(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int) {
  errno = ENOSYS;
  return EAI_SYSTEM;
}

constinit cohook::hook::RealFunction<Gethostbyname2Fn> real_gethostbyname2{"gethostbyname2", no_gethostbyname2};
constinit cohook::hook::RealFunction<Gethostbyname2RFn> real_gethostbyname2_r{"gethostbyname2_r", no_gethostbyname2_r};
constinit cohook::hook::RealFunction<GethostbyaddrFn> real_gethostbyaddr{"gethostbyaddr", no_gethostbyaddr};
constinit cohook::hook::RealFunction<GethostbyaddrRFn> real_gethostbyaddr_r{"gethostbyaddr_r", no_gethostbyaddr_r};
constinit cohook::hook::RealFunction<GetnameinfoFn> real_getnameinfo{"getnameinfo", no_getnameinfo};

}  // namespace

COHOOK_TRACED_HOOK(int, getaddrinfo, (const char* node, const char* service, const addrinfo* hints, addrinfo** result), (node, service, hints, result), cohook::trace::trace_getaddrinfo) {
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

COHOOK_INTERPOSE int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer, size_t size,
                                      hostent** result, int* error) {
  if (cooperating_coroutine() == nullptr) return real_gethostbyname2_r(name, family, entry, buffer, size, result, error);
  int status = 0;
  auto call = [&] { status = real_gethostbyname2_r(name, family, entry, buffer, size, result, error); };
  run_offloaded("gethostbyname2_r", call);
  return status;
}

COHOOK_INTERPOSE hostent* gethostbyname2(const char* name, int family) {
  cohook::Coroutine* coroutine = cooperating_coroutine();
  if (coroutine == nullptr) return real_gethostbyname2(name, family);
  return into_host_storage(coroutine, "gethostbyname2",
                           [&](hostent* entry, char* buffer, size_t size, hostent** result, int* error) {
                             return real_gethostbyname2_r(name, family, entry, buffer, size, result, error);
                           });
}

COHOOK_INTERPOSE int gethostbyaddr_r(const void* address, socklen_t length, int family, hostent* entry, char* buffer,
                                     size_t size, hostent** result, int* error) {
  if (cooperating_coroutine() == nullptr) {
    return real_gethostbyaddr_r(address, length, family, entry, buffer, size, result, error);
  }
  int status = 0;
  auto call = [&] { status = real_gethostbyaddr_r(address, length, family, entry, buffer, size, result, error); };
  run_offloaded("gethostbyaddr_r", call);
  return status;
}

COHOOK_INTERPOSE hostent* gethostbyaddr(const void* address, socklen_t length, int family) {
  cohook::Coroutine* coroutine = cooperating_coroutine();
  if (coroutine == nullptr) return real_gethostbyaddr(address, length, family);
  return into_host_storage(coroutine, "gethostbyaddr",
                           [&](hostent* entry, char* buffer, size_t size, hostent** result, int* error) {
                             return real_gethostbyaddr_r(address, length, family, entry, buffer, size, result, error);
                           });
}

COHOOK_TRACED_HOOK(int, getnameinfo, (const sockaddr* address, socklen_t length, char* host, socklen_t host_size, char* service, socklen_t service_size, int flags), (address, length, host, host_size, service, service_size, flags), cohook::trace::trace_getnameinfo) {
  if (cooperating_coroutine() == nullptr) {
    return real_getnameinfo(address, length, host, host_size, service, service_size, flags);
  }
  int status = 0;
  auto call = [&] { status = real_getnameinfo(address, length, host, host_size, service, service_size, flags); };
  run_offloaded("getnameinfo", call);
  return status;
}

const char cohook::hook::link_anchor::dns_hooks = 0;
