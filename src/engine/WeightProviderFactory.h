// WeightProviderFactory: where weights come from. Whole tensors kept in RAM when the
// model (plus what the backend holds in RAM) fits --ram-gb (FileWeightProvider), else
// packs streamed from disk under the budget (PackWeightProvider).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "memory/WeightProvider.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ConfigManager;
struct PerformanceMetrics;

// model_bytes: the model's weight bytes; act_kv_bytes: RAM the backend will hold under the
// same budget. Out: `how` (one line for logs), `fill` (adds the provider's byte counters
// to the metrics) and `reset` (restarts them).
Expected<std::unique_ptr<WeightProvider>> open_weight_provider(const Path& model, const ConfigManager& config, uint64 model_bytes,
                                                               uint64 act_kv_bytes, std::string& how,
                                                               std::function<void(PerformanceMetrics&)>& fill, std::function<void()>& reset);

}  // namespace vk_symbiote
