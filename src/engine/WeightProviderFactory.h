// WeightProviderFactory: where weights come from. Whole tensors kept in RAM when the
// model (plus what the backend holds in RAM) fits --ram-gb (FileWeightProvider), else
// packs streamed from disk under the budget (PackWeightProvider).
//
// On the pack path with compression on (the default), packs come from the pack cache
// <cache_dir or the model's directory>/<model>.vkspack, (re)built first when missing or
// stale (PackCacheSetup.h), within --ram-gb; a cache that cannot be built is a warning,
// and packs are read uncompressed from the model file, as with --no-compression. An
// unknown compression_algorithm is an InvalidArgument error.
//
// Two steps, so that a run that will be refused does no work: plan_weight_source()
// decides and checks the RAM budget (nothing read, built or written), the caller checks
// the VRAM budget, then open_weight_provider() builds what is needed.
#pragma once

#include <memory>
#include <string>

#include "memory/WeightProvider.h"
#include "packs/PackWeightProvider.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ConfigManager;
class LoadedModel;

struct WeightSource {
    bool packs = false;       // false: whole tensors in RAM
    bool pack_cache = false;  // packs from the compressed pack cache (compression on)
    PackOptions pack_options; // the pack path's options (pack_cache path set by open)
    std::string how;          // one line for logs: why this source
};

// model_bytes: the model's weight bytes; act_kv_bytes: RAM the backend will hold under the
// same budget. Errors: BudgetTooSmall with the minimum (the pack cache's decompression
// scratch counted at its bound, so the same minimum holds before and after the build);
// InvalidArgument for a bad compression_algorithm / max_pack_mb.
Expected<WeightSource> plan_weight_source(const LoadedModel& model, const ConfigManager& config, uint64 model_bytes, uint64 act_kv_bytes);

// Opens the planned source, building the pack cache first when needed. Out: `how` (one
// line for logs).
Expected<std::unique_ptr<WeightProvider>> open_weight_provider(std::shared_ptr<const LoadedModel> model, const ConfigManager& config,
                                                               const WeightSource& source, std::string& how);

}  // namespace vk_symbiote
