// Code addresses to names, for stack traces: dladdr finds the module, the module's own symbol
// table (.symtab, else .dynsym) finds the function, so static and hidden functions are named
// too; C++ names are demangled. No debug info is read: no file or line numbers.
#pragma once

#include <cstdint>
#include <string>

namespace cohook::diag {

// Appends "function+0x1c (module)" or "0x7f12... (module)" for the code at pc. `exact`: pc is
// an instruction address, not a return address (which is looked up one byte back).
void append_symbol(std::uintptr_t pc, bool exact, std::string* out);

}  // namespace cohook::diag
