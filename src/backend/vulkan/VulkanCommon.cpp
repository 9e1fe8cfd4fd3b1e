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

}  // namespace vk_symbiote
