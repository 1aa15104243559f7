// Export control: libcohook is built with -fvisibility=hidden; what the public headers
// declare is exported.
#pragma once

#define COHOOK_API __attribute__((visibility("default")))
