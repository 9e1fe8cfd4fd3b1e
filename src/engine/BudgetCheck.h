// What the machine has against what was asked for. Budgets above it: the promise still holds but protects nothing (the
// machine runs out first), so the engine says so in one line with the machine's figure.
#pragma once

#include <optional>
#include <string>

#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

// Physical RAM of this machine in bytes (0 when unknown).
uint64 physical_ram_bytes();
// RAM available to a new process now (MemAvailable of /proc/meminfo), bytes; 0 when unknown.
uint64 available_ram_bytes();

// Budgets nobody gave (MemoryConfig::*_budget_set) come from the machine: what is free less
// a margin of max(margin_fraction of it, min_margin) for the rest of the system. 0 when
// `free_bytes` is unknown (0).
uint64 machine_budget(uint64 free_bytes, double margin_fraction, uint64 min_margin);
inline constexpr double kRamMarginFraction = 0.10;
inline constexpr uint64 kRamMinMargin = uint64(512) << 20;
inline constexpr double kVramMarginFraction = 0.05;
inline constexpr uint64 kVramMinMargin = uint64(256) << 20;
// True when the user gave the budget (a flag, INI key or variable), or code set a value other
// than the built-in default.
bool ram_budget_given(const MemoryConfig& m);
bool vram_budget_given(const MemoryConfig& m);
// "--ram-gb 12.3 GiB (available RAM 13.7 GiB less 1.37 GiB)" for the one budgets line.
std::string machine_budget_text(const char* flag, uint64 budget, const std::string& what, uint64 free_bytes);

// The warning for --ram-gb above physical_ram (bytes; 0 = unknown: none), else nullopt.
std::optional<std::string> ram_budget_warning(const MemoryConfig& m, uint64 physical_ram);
// Worker threads for --threads N (0: every hardware thread), capped at the hardware thread
// count: more threads than the machine has add per-thread buffers and stacks to the RAM
// budget and only contend for the same cores. The cap is said in one warning per process.
uint32 thread_count(const PerformanceConfig& p);
uint32 thread_count(uint32 requested, uint32 hardware);  // the rule itself (no warning)

// The warning for --vram-gb above the device's device-local heaps (bytes), else nullopt.
std::optional<std::string> vram_budget_warning(const MemoryConfig& m, uint64 device_local, const std::string& device);

}  // namespace vk_symbiote
