#include "sched/symbolize.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace cohook::diag {
namespace {

struct FunctionSymbol {
  std::uintptr_t start;  // link-time address
  std::uintptr_t size;
  const char* name;      // in the module's mapped string table
};

// One module's function symbols, sorted by address. The file stays mapped for the names.
struct ModuleSymbols {
  std::vector<FunctionSymbol> functions;
};

std::mutex g_modules_mutex;
std::map<std::string, std::unique_ptr<ModuleSymbols>>* g_modules = nullptr;  // never freed: used at exit

const Elf64_Shdr* section(const char* base, const Elf64_Ehdr* header, unsigned index, std::size_t file_size) {
  std::size_t offset = header->e_shoff + std::size_t{index} * header->e_shentsize;
  if (index >= header->e_shnum || offset + sizeof(Elf64_Shdr) > file_size) return nullptr;
  return reinterpret_cast<const Elf64_Shdr*>(base + offset);
}

void read_symbols(const char* path, ModuleSymbols* module) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st{};
  void* map = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr)))
    map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return;
  const char* base = static_cast<const char*>(map);
  std::size_t size = static_cast<std::size_t>(st.st_size);
  const auto* header = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64) {
    ::munmap(map, size);
    return;
  }
  // Prefer the full symbol table; a stripped file still has the dynamic one.
  for (unsigned wanted : {unsigned{SHT_SYMTAB}, unsigned{SHT_DYNSYM}}) {
    for (unsigned i = 0; i < header->e_shnum; ++i) {
      const Elf64_Shdr* symbols = section(base, header, i, size);
      if (symbols == nullptr || symbols->sh_type != wanted || symbols->sh_entsize != sizeof(Elf64_Sym)) continue;
      const Elf64_Shdr* strings = section(base, header, symbols->sh_link, size);
      if (strings == nullptr || symbols->sh_offset + symbols->sh_size > size || strings->sh_offset + strings->sh_size > size)
        continue;
      const auto* sym = reinterpret_cast<const Elf64_Sym*>(base + symbols->sh_offset);
      std::size_t count = symbols->sh_size / sizeof(Elf64_Sym);
      for (std::size_t k = 0; k < count; ++k) {
        unsigned type = ELF64_ST_TYPE(sym[k].st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[k].st_value == 0 || sym[k].st_shndx == SHN_UNDEF) continue;
        if (sym[k].st_name >= strings->sh_size) continue;
        module->functions.push_back({sym[k].st_value, sym[k].st_size, base + strings->sh_offset + sym[k].st_name});
      }
    }
    if (!module->functions.empty()) break;
  }
  std::sort(module->functions.begin(), module->functions.end(),
            [](const FunctionSymbol& a, const FunctionSymbol& b) { return a.start < b.start; });
  // The mapping is kept for the names even when nothing was found: a handful of files at most.
}

const ModuleSymbols& symbols_of(const std::string& path) {
  if (g_modules == nullptr) g_modules = new std::map<std::string, std::unique_ptr<ModuleSymbols>>();
  auto& slot = (*g_modules)[path];
  if (!slot) {
    slot = std::make_unique<ModuleSymbols>();
    read_symbols(path.c_str(), slot.get());
  }
  return *slot;
}

const FunctionSymbol* find(const ModuleSymbols& module, std::uintptr_t address) {
  auto it = std::upper_bound(module.functions.begin(), module.functions.end(), address,
                             [](std::uintptr_t a, const FunctionSymbol& f) { return a < f.start; });
  // Among symbols at the same address (aliases), take the last one not past `address` with a
  // size that covers it.
  while (it != module.functions.begin()) {
    --it;
    if (it->size == 0 || address < it->start + it->size) return &*it;
    if (address - it->start > (1u << 24)) break;
  }
  return nullptr;
}

void append_hex(std::uintptr_t value, std::string* out) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%lx", static_cast<unsigned long>(value));
  *out += text;
}

void append_demangled(const char* name, std::string* out) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  *out += status == 0 && demangled != nullptr ? demangled : name;
  std::free(demangled);
}

}  // namespace

void append_symbol(std::uintptr_t pc, bool exact, std::string* out) {
  std::uintptr_t lookup = exact ? pc : pc - 1;
  Dl_info info{};
  link_map* map = nullptr;
  if (::dladdr1(reinterpret_cast<void*>(lookup), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
      map == nullptr) {
    append_hex(pc, out);
    return;
  }
  bool main_program = map->l_name == nullptr || map->l_name[0] == '\0';
  std::string path = main_program ? "/proc/self/exe" : map->l_name;
  const char* shown_module = main_program ? program_invocation_short_name : map->l_name;
  if (const char* slash = std::strrchr(shown_module, '/'); slash != nullptr) shown_module = slash + 1;

  std::uintptr_t relative = lookup - static_cast<std::uintptr_t>(map->l_addr);
  std::string name;
  std::uintptr_t offset = 0;
  {
    std::lock_guard<std::mutex> lock(g_modules_mutex);
    if (const FunctionSymbol* f = find(symbols_of(path), relative); f != nullptr) {
      append_demangled(f->name, &name);
      offset = relative - f->start;
    }
  }
  if (name.empty() && info.dli_sname != nullptr) {
    append_demangled(info.dli_sname, &name);
    offset = lookup - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
  }
  if (name.empty()) {
    append_hex(pc, out);
  } else {
    *out += name;
    // Shown for the address itself, not the byte before a return address.
    *out += "+";
    append_hex(offset + (exact ? 0 : 1), out);
  }
  *out += " (";
  *out += shown_module;
  *out += ")";
}

}  // namespace cohook::diag
