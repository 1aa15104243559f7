// Static linking pulls an object file out of libcohook.a only to resolve a symbol still undefined
// at that point. A hooked libc name does not always qualify: under -fsanitize=address, libasan
// (linked first) already defines read, write, poll... so the objects with those hooks would be
// skipped and the program would silently run unhooked. Each hook file therefore defines an anchor,
// and fd_table.cc (which every hook file uses) refers to all of them: once any hook is linked,
// every hook is. (Linking with -Wl,--whole-archive is the complete cure.)
#pragma once

namespace cohook::hook::link_anchor {
extern const char io_hooks;
extern const char socket_io_hooks;
extern const char fd_hooks;
extern const char open_hooks;
extern const char connection_hooks;
extern const char poll_hooks;
extern const char sleep_hooks;
extern const char dns_hooks;
extern const char fortify_hooks;
extern const char socket_privacy;
extern const char child_process_hooks;
// Linked through sleep_hooks (see its anchor list).
extern const char signal_hooks;
extern const char process_hooks;
extern const char legacy_signal_hooks;
}  // namespace cohook::hook::link_anchor
