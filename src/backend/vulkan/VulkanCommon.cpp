#include "backend/vulkan/VulkanCommon.h"

namespace vk_symbiote {

const char* vk_result_name(VkResult r) {
    switch (r) {
#define C(x) case x: return #x;
        C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_EVENT_SET) C(VK_EVENT_RESET) C(VK_INCOMPLETE)
        C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY) C(VK_ERROR_INITIALIZATION_FAILED)
        C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
        C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
        C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
        C(VK_ERROR_UNKNOWN) C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        C(VK_ERROR_FRAGMENTATION) C(VK_PIPELINE_COMPILE_REQUIRED)
#undef C
        default: return "VK_ERROR_(other)";
    }
}

Error vk_error(VkResult r, const char* expr, const char* file, int line) {
    const ErrorCode code = (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) ? ErrorCode::OutOfMemory
                                                                                                     : ErrorCode::Device;
    return make_error(code, std::string("Vulkan: ") + expr + " returned " + vk_result_name(r) + " (" + std::to_string(int(r)) +
                                ") at " + file + ":" + std::to_string(line));
}

Expected<bool> wait_and_reset_fence(VkDevice device, VkFence fence, uint64 timeout_ns, const char* what) {
    VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, timeout_ns);
    if (r == VK_TIMEOUT)
        return make_error(ErrorCode::Device, std::string("Vulkan: ") + what + " did not finish within " + std::to_string(timeout_ns / 1000000) +
                                                 " ms (GPU hang?)");
    VKS_VK_TRY(r);
    VKS_VK_TRY(vkResetFences(device, 1, &fence));
    return true;
}

uint64 timestamp_delta_ns(uint64 t0, uint64 t1, uint32 valid_bits, float period_ns) {
    const uint64 mask = valid_bits >= 64 ? ~uint64(0) : (uint64(1) << valid_bits) - 1;
    return uint64(double((t1 - t0) & mask) * period_ns);
}

}  // namespace vk_symbiote
