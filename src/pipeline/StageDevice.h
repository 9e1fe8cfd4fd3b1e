// StageDevice: a pipeline rank's layers on its Vulkan device, chosen and prepared as one
// process chooses and prepares its device (engine/BackendSelector: --disable-gpu, lavapipe only
// with --device-index, the VRAM budget from --vram-gb / --budgets or the device's free memory).
// The backend runs over a LayerRangeProvider (the rank's layers as a model of their own, as
// MultiDeviceBackend runs one device's part), so within the rank the placement (resident,
// streamed, hybrid), the budget and the KV cache are exactly one process's. The header knows
// only Backend: a build without Vulkan compiles it, and open_device() then returns nullptr.
#pragma once

#include <memory>
#include <string>

#include "backend/Backend.h"
#include "memory/WeightProvider.h"
#include "model/LoadedModel.h"

namespace vk_symbiote {
class ConfigManager;
}

namespace vk_symbiote::pipeline {

// The device this rank computes on, or nullptr with the reason in `why` (the CPU path runs).
std::unique_ptr<Backend> open_device(const ConfigManager& cfg, std::string& why);

// Host memory the device path needs besides the weights (staging, the hybrid decode's KV,
// the driver), for layers [first, first + count) of `model`: the RAM plan counts it.
uint64 device_host_bytes(const std::shared_ptr<const LoadedModel>& model, uint32 first, uint32 count, uint32 n_ctx, uint32 n_batch);

// Prepares `device` (from open_device) over `layers`. false (warned): the layers cannot run on
// the device for another reason than the budget; a budget too small is an error.
Expected<bool> prepare_device(Backend& device, const LoadedModel& model, const ConfigManager& cfg, WeightProvider& layers, uint32 n_ctx, uint32 n_batch);

// "vulkan (llvmpipe ...): all in VRAM" (the device's name and its placement, one line).
std::string device_placement(Backend& device);

}  // namespace vk_symbiote::pipeline
