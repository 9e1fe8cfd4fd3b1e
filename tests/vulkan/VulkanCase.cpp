#include "VulkanCase.h"

#include <gtest/gtest.h>

#include "VulkanTestEnv.h"
#include "support/TestPaths.h"

namespace vk_symbiote::test {

std::unique_ptr<VulkanCase> load_case_weights(const std::string& name) {
    auto c = std::make_unique<VulkanCase>();
    auto r = load_reference_case(name);
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) return nullptr;
    c->ref = std::move(*r);
    auto w = FileWeightProvider::open(models_dir() / c->ref.model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return nullptr;
    c->weights = std::move(*w);
    return c;
}

std::unique_ptr<VulkanCase> load_vulkan_case(const std::string& name, CaseContext ctx, uint32 n_batch,
                                             const VulkanOptionsHook& hook) {
    auto c = load_case_weights(name);
    if (!c) return nullptr;
    VulkanOptions o;
    o.enable_validation = validation_wanted();
    o.kv_f16_rounding = true;
    if (hook) hook(o);
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    if (!be) return nullptr;
    c->be = std::move(*be);
    const size_t greedy = ctx == CaseContext::PromptAndGreedy ? c->ref.greedy_tokens.size() : 0;
    auto p = c->be->prepare(*c->weights, uint32(c->ref.prompt_tokens.size() + greedy + 1), n_batch);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? std::move(c) : nullptr;
}

}  // namespace vk_symbiote::test
