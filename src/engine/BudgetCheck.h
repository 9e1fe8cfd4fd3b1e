// Budgets above what the machine has: the promise still holds but protects nothing (the
// machine runs out first), so the engine says so in one line with the machine's figure.
#pragma once

#include <optional>
#include <string>

#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

// Physical RAM of this machine in bytes (0 when unknown).
uint64 physical_ram_bytes();

// The warning for --ram-gb above physical_ram (bytes; 0 = unknown: none), else nullopt.
std::optional<std::string> ram_budget_warning(const MemoryConfig& m, uint64 physical_ram);
// The warning for --vram-gb above the device's device-local heaps (bytes), else nullopt.
std::optional<std::string> vram_budget_warning(const MemoryConfig& m, uint64 device_local, const std::string& device);

}  // namespace vk_symbiote
