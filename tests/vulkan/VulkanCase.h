// VulkanCase: one reference case of ../shared with its model's weights and, for the reference
// tests, a Vulkan backend prepared for it. The loader the Vulkan reference tests share
// (test_vulkan_reference, test_vulkan_flash_reference, test_vulkan_multidevice); each test's
// own options come in through a hook on the common VulkanOptions.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/ReferenceCase.h"

namespace vk_symbiote::test {

struct VulkanCase {
    ReferenceCase ref;
    std::unique_ptr<FileWeightProvider> weights;  // ../shared/models/<ref.model>
    std::unique_ptr<VulkanBackend> be;            // null from load_case_weights
};

// The positions the backend's KV cache holds: the prompt and one more token, or also the
// case's greedy continuation.
enum class CaseContext { Prompt, PromptAndGreedy };

// Adjusts the options a case's backend is created with (see load_vulkan_case).
using VulkanOptionsHook = std::function<void(VulkanOptions&)>;

// The case and its model's weights, no backend; nullptr (after a failed EXPECT naming the
// error) when either does not load.
std::unique_ptr<VulkanCase> load_case_weights(const std::string& name);

// The case, its weights and a backend prepared for `ctx` positions and n_batch rows per pass.
// The options start as every reference test wants them (validation as validation_wanted(),
// kv_f16_rounding: the reference's f16 KV cache precision), then `hook` adjusts them.
// nullptr (after a failed EXPECT naming the error) when any step fails.
std::unique_ptr<VulkanCase> load_vulkan_case(const std::string& name, CaseContext ctx, uint32 n_batch,
                                             const VulkanOptionsHook& hook = {});

}  // namespace vk_symbiote::test
