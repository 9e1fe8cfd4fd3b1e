#include "engine/BudgetCheck.h"

#include <cstdio>
#include <unistd.h>

namespace vk_symbiote {

namespace {

std::string gib(double bytes) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f GiB", bytes / MemoryConfig::kBytesPerGB);
    return b;
}

}  // namespace

uint64 physical_ram_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64(pages) * uint64(page) : 0;
}

std::optional<std::string> ram_budget_warning(const MemoryConfig& m, uint64 physical_ram) {
    if (physical_ram == 0 || m.ram_budget_bytes() <= physical_ram) return std::nullopt;
    return "--ram-gb " + gib(double(m.ram_budget_bytes())) + " is above this machine's physical memory (" + gib(double(physical_ram)) +
           "): the budget cannot keep the system from swapping";
}

std::optional<std::string> vram_budget_warning(const MemoryConfig& m, uint64 device_local, const std::string& device) {
    if (device_local == 0 || m.vram_budget_bytes() <= device_local) return std::nullopt;
    return "--vram-gb " + gib(double(m.vram_budget_bytes())) + " is above the device-local memory of " + device + " (" +
           gib(double(device_local)) + "): the placement uses the device's own budget";
}

}  // namespace vk_symbiote
