// Which reference cases the Vulkan tests skip, and why: a model the engine refuses, or one with
// a family feature the Vulkan kernels do not implement yet (none today). The latter is
// checked, not assumed: the backend's prepare() must refuse the model with "the Vulkan backend
// does not implement <feature> yet", and the test skips with exactly that message.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

namespace vk_symbiote::test {

// nullopt: the case runs on Vulkan. Needs a Vulkan device (call after the device check).
inline std::optional<std::string> vulkan_case_skip_reason(const std::string& case_name) {
    auto c = load_reference_case(case_name);
    if (!c) return std::nullopt;  // the test's own load reports it
    if (auto why = unimplemented_reason(*c)) return why;
    auto w = FileWeightProvider::open(models_dir() / c->model);
    if (!w) return std::nullopt;
    const auto feature = VulkanBackend::unimplemented_feature((*w)->config());
    if (!feature) return std::nullopt;
    auto be = VulkanBackend::create(VulkanOptions{});
    if (!be) return be.error().to_string();
    auto p = (*be)->prepare(**w, 8, 4);
    EXPECT_FALSE(p) << case_name << ": the Vulkan backend prepared a model with " << *feature << " it does not implement";
    if (p) return std::nullopt;
    EXPECT_EQ(p.error().code, ErrorCode::Unsupported) << p.error().to_string();
    EXPECT_NE(p.error().message.find("the Vulkan backend does not implement " + *feature + " yet"), std::string::npos) << p.error().message;
    return p.error().message;
}

}  // namespace vk_symbiote::test

// Skips the current test when the case cannot run on Vulkan yet (see above).
#define VKS_SKIP_IF_VULKAN_CANNOT_RUN(case_name)                                                  \
    do {                                                                                          \
        if (auto vks_why_ = ::vk_symbiote::test::vulkan_case_skip_reason(case_name)) GTEST_SKIP() << *vks_why_; \
    } while (0)
