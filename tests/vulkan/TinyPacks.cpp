#include "TinyPacks.h"

#include <gtest/gtest.h>

#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"

namespace vk_symbiote::test {

std::unique_ptr<PackWeightProvider> tiny_pack_provider(const Path& model, uint32 n_ctx, uint32 n_batch, bool exact) {
    PackOptions o;
    o.max_pack_bytes = 8192;
    o.embedding_cache_rows = 16;
    auto fw = FileWeightProvider::open(model);
    EXPECT_TRUE(fw);
    if (!fw) return nullptr;
    o.activation_kv_bytes = VulkanBackend::host_bytes_estimate(**fw, n_ctx, n_batch, 0);  // no driver reserve: a tiny budget
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min);
    if (!min) return nullptr;
    o.ram_budget_bytes = *min + (exact ? 0 : (*fw)->registry().total_bytes() / 8);
    auto p = PackWeightProvider::open(model, o);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
}

}  // namespace vk_symbiote::test
