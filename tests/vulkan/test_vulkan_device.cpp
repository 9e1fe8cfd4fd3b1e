#include <gtest/gtest.h>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;

TEST(VulkanDevice, CapabilitiesFilled) {
    VKS_REQUIRE_VULKAN();
    const auto& c = env->dev->caps();
    std::printf("[ vulkan ] %s\n", c.summary().c_str());
    EXPECT_FALSE(c.device_name.empty());
    EXPECT_GT(c.max_storage_buffer_range, 0u);
    EXPECT_GT(c.max_allocation_size, 0u);
    EXPECT_GT(c.subgroup_size, 0u);
    EXPECT_FALSE(c.heaps.empty());
    EXPECT_GT(env->dev->device_local_budget(), 0u);
}

TEST(VulkanDevice, BadDeviceIndexIsAnError) {
    VKS_REQUIRE_VULKAN();
    VulkanDeviceOptions o;
    o.device_index = 999;
    auto d = VulkanDevice::create(o);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(d.error().message.find("device_index"), std::string::npos);
}

TEST(VulkanDevice, VkTryReportsExpressionAndLine) {
    auto f = []() -> ExpectedVoid {
        VKS_VK_TRY(VK_ERROR_DEVICE_LOST);
        return {};
    };
    auto r = f();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Device);
    EXPECT_NE(r.error().message.find("VK_ERROR_DEVICE_LOST"), std::string::npos);
    EXPECT_NE(r.error().message.find("test_vulkan_device.cpp"), std::string::npos);
}

TEST(VulkanMemory, BuffersAreSubAllocated) {
    VKS_REQUIRE_VULKAN();
    const auto before = env->mem->device_stats();
    std::vector<GpuBuffer> bufs;
    for (int i = 0; i < 8; ++i) {
        auto b = env->mem->create_buffer(1000 + i, MemoryKind::DeviceLocal);
        ASSERT_TRUE(b) << b.error().to_string();
        bufs.push_back(*b);
    }
    const auto mid = env->mem->device_stats();
    EXPECT_EQ(mid.live_allocations, before.live_allocations + 8);
    EXPECT_EQ(mid.blocks, before.blocks);  // eight small buffers fit in existing block(s)
    for (auto& b : bufs) env->mem->destroy_buffer(b);
    EXPECT_EQ(env->mem->device_stats().bytes_in_use, before.bytes_in_use);
}
