// Metrics: GET /metrics in Prometheus' text format (version 0.0.4): requests, tokens,
// tokens/s, the queue, the KV block pool, bytes per memory tier and the budgets. Every name
// starts with vk_symbiote_.
#pragma once

#include <string>

#include "server/EngineDriver.h"

namespace vk_symbiote::server {

struct Budgets {
    uint64 vram_bytes = 0;  // --vram-gb as the engine runs under it (0: not set)
    uint64 ram_bytes = 0;   // --ram-gb
};

std::string prometheus_text(const DriverSnapshot& s, const Budgets& budgets);

}  // namespace vk_symbiote::server
