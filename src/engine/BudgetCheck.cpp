#include "engine/BudgetCheck.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "common/Units.h"
#include "config/Logger.h"

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

uint64 available_ram_bytes() {
    std::FILE* f = std::fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    std::fclose(f);
    return uint64(kb) << 10;
}

uint64 machine_budget(uint64 free_bytes, double margin_fraction, uint64 min_margin) {
    const uint64 margin = std::max(uint64(double(free_bytes) * margin_fraction), min_margin);
    return free_bytes > margin ? free_bytes - margin : 0;
}

bool ram_budget_given(const MemoryConfig& m) { return m.ram_budget_set || m.ram_budget_gb != MemoryConfig{}.ram_budget_gb; }
bool vram_budget_given(const MemoryConfig& m) { return m.vram_budget_set || m.vram_budget_gb != MemoryConfig{}.vram_budget_gb; }

std::string machine_budget_text(const char* flag, uint64 budget, const std::string& what, uint64 free_bytes) {
    return std::string(flag) + " " + format_gib(budget) + " (" + what + " " + format_gib(free_bytes) + " less " + format_gib(free_bytes - budget) + ")";
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

uint32 thread_count(uint32 requested, uint32 hardware) {
    hardware = std::max(1u, hardware);
    return requested == 0 ? hardware : std::min(requested, hardware);
}

uint32 thread_count(const PerformanceConfig& p) {
    const uint32 hardware = std::max(1u, std::thread::hardware_concurrency());
    static std::atomic<bool> warned{false};
    if (p.threads > hardware && !warned.exchange(true))
        VKS_LOG_WARN("--threads " << p.threads << " is more than this machine's " << hardware << " hardware threads; using " << hardware);
    return thread_count(p.threads, hardware);
}

}  // namespace vk_symbiote
