// WeightProviderFactory: where weights come from. Whole tensors kept in RAM when the
// model (plus what the backend holds in RAM) fits --ram-gb (FileWeightProvider), else
// packs streamed from disk under the budget (PackWeightProvider).
//
// On the pack path with compression on (the default), packs come from the pack cache
// <cache_dir or the model's directory>/<model>.vkspack, (re)built first when missing or
// stale (PackCacheSetup.h); a cache that cannot be built is a warning, and packs are read
// uncompressed from the model file, as with --no-compression. An unknown
// compression_algorithm is an InvalidArgument error.
#pragma once

#include <memory>
#include <string>

#include "memory/WeightProvider.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ConfigManager;
class LoadedModel;

// model_bytes: the model's weight bytes; act_kv_bytes: RAM the backend will hold under the
// same budget. Out: `how` (one line for logs).
Expected<std::unique_ptr<WeightProvider>> open_weight_provider(std::shared_ptr<const LoadedModel> model, const ConfigManager& config, uint64 model_bytes,
                                                               uint64 act_kv_bytes, std::string& how);

}  // namespace vk_symbiote
