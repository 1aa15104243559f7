#include "hook/socket_privacy.h"

#include <stdarg.h>
#include <sys/ioctl.h>

#include <cstring>

#include "hook/fd_table.h"
#include "hook/interpose.h"
#include "hook/link_anchors.h"
#include "hook/real_functions.h"

namespace cohook::hook {
namespace {

bool is_timeout_option(int level, int name) {
  if (level != SOL_SOCKET) return false;
  // The _OLD and _NEW forms (struct timeval with 32- or 64-bit seconds) set the same timeouts.
  switch (name) {
    case SO_RCVTIMEO_OLD:
    case SO_SNDTIMEO_OLD:
    case SO_RCVTIMEO_NEW:
    case SO_SNDTIMEO_NEW:
      return true;
    default:
      return false;
  }
}

}  // namespace

void note_child_process() {
  FdTable::instance().share_all();
}

void note_fds_sent(const msghdr* message) {
  if (message == nullptr || message->msg_control == nullptr || message->msg_controllen < sizeof(cmsghdr)) return;
  // The kernel reads the control data as it is now; a header it would refuse (bad length) makes
  // the whole send fail, so nothing needs reporting for it.
  for (const cmsghdr* header = CMSG_FIRSTHDR(message); header != nullptr;
       header = CMSG_NXTHDR(const_cast<msghdr*>(message), const_cast<cmsghdr*>(header))) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS || header->cmsg_len < CMSG_LEN(0)) continue;
    std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(header);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, data + i * sizeof(int), sizeof fd);  // control data need not be aligned for int
      FdTable::instance().share(fd);
    }
  }
}

}  // namespace cohook::hook

using cohook::hook::FdTable;
using cohook::hook::real_functions;

COHOOK_INTERPOSE int ioctl(int fd, unsigned long request, ...) {
  va_list arguments;
  va_start(arguments, request);
  void* argument = va_arg(arguments, void*);  // what glibc's ioctl passes on, whatever the request
  va_end(arguments);
  if (request == FIONBIO) FdTable::instance().share(fd);
  return real_functions.ioctl(fd, request, argument);
}

COHOOK_INTERPOSE int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  if (cohook::hook::is_timeout_option(level, name)) FdTable::instance().share(fd);
  return real_functions.setsockopt(fd, level, name, value, length);
}

const char cohook::hook::link_anchor::socket_privacy = 0;
