// TinyPacks: the Vulkan tests' weights streamed from packs under a tiny RAM budget: 8 KiB packs,
// 16 cached embedding rows, a budget of the minimum that the backend's host memory for
// n_ctx x n_batch (no driver reserve) allows, plus an eighth of the weights unless `exact`.
#pragma once

#include <memory>

#include "packs/PackWeightProvider.h"

namespace vk_symbiote::test {

std::unique_ptr<PackWeightProvider> tiny_pack_provider(const Path& model, uint32 n_ctx, uint32 n_batch, bool exact = false);

}  // namespace vk_symbiote::test
