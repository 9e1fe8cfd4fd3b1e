// WeightProviderFactory: where weights come from. Whole tensors kept in RAM when the
// model (plus what the backend holds in RAM) fits --ram-gb (FileWeightProvider), else
// packs streamed from disk under the budget (PackWeightProvider).
//
// Packs and compression (only on the pack path; whole-tensor RAM residency never uses
// the cache):
//   enable_compression = true (default) and compression_algorithm != none: packs come
//     from the compressed pack cache <cache_dir or the model's directory>/<model>.vkspack,
//     decompressed on the I/O threads. An existing cache is used when it matches the
//     model, the pack plan (max_pack_mb) and the codecs compression_algorithm asks for
//     (PackCacheSetup.h); otherwise it is (re)built first, with progress on stderr, and
//     a warning says why an existing one was not used. When the cache cannot be built
//     (e.g. a read-only model directory without --cache-dir) a warning is logged and
//     packs are read uncompressed from the model file. A damaged pack found while
//     running is an error of that generation (checksum per read), never wrong output.
//   --no-compression / enable_compression = false / compression_algorithm = none: packs
//     are read from the model file.
//   An unknown compression_algorithm is an InvalidArgument error.
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
