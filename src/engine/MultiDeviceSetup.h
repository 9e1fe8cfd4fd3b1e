// MultiDeviceSetup: --devices (several Vulkan devices, MultiDeviceBackend) from the options: the
// device list ("0,1", "all"), one VRAM budget per device (--vram-gb 4,8, or one value for each),
// and the devices opened, each a VulkanBackend with the engine's Vulkan options. Bad input is
// refused naming what and where: a device index the machine lacks, a budget list whose length
// is not the device count.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vk_symbiote/ConfigManager.h"

#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/MultiDeviceBackend.h"
#endif

namespace vk_symbiote {

// True when --devices asks for several devices (a non-empty list).
inline bool multi_device_requested(const ConfigManager& config) { return !config.performance().devices.empty(); }

// "0,1" -> {0, 1}; "all" -> {} (every device, decided when they are opened). Errors name the
// option and the bad entry.
Expected<std::vector<int32>> parse_device_list(const std::string& text);

// Bytes per device, n devices: --vram-gb's list (one per device) or its one value for each;
// unset: 0 each (the device's own budget). A list of another length is refused.
Expected<std::vector<uint64>> device_budgets(const MemoryConfig& m, size_t n_devices);

#ifdef VKS_HAS_VULKAN
// One backend per device of the list (with "all": every device, CPU implementations left out
// when a real GPU is present), the budgets applied, chained. `base`: the engine's options.
Expected<std::unique_ptr<MultiDeviceBackend>> open_devices(const ConfigManager& config, const VulkanOptions& base);
#endif

}  // namespace vk_symbiote
