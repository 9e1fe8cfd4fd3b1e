#include "pipeline/StageDevice.h"

#include "engine/BackendSelector.h"
#include "memory/FileWeightProvider.h"
#include "memory/LayerRangeProvider.h"
#include "vk_symbiote/ConfigManager.h"
#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/VulkanBackend.h"
#endif

namespace vk_symbiote::pipeline {

#ifdef VKS_HAS_VULKAN

std::unique_ptr<Backend> open_device(const ConfigManager& cfg, std::string& why) { return open_stage_device(cfg, why); }

uint64 device_host_bytes(const std::shared_ptr<const LoadedModel>& model, uint32 first, uint32 count, uint32 n_ctx, uint32 n_batch) {
    // The estimate reads shapes only: a file provider over the model loads nothing.
    const auto probe = FileWeightProvider::open(model);
    const LayerRangeProvider layers(*probe, first, count);
    return VulkanBackend::host_bytes_estimate(layers, n_ctx, n_batch);
}

Expected<bool> prepare_device(Backend& device, const LoadedModel& model, const ConfigManager& cfg, WeightProvider& layers, uint32 n_ctx, uint32 n_batch) {
    return prepare_stage_device(static_cast<VulkanBackend&>(device), model.path(), cfg, layers, n_ctx, n_batch);
}

#else

std::unique_ptr<Backend> open_device(const ConfigManager&, std::string& why) {
    why = "this build has no Vulkan backend";
    return nullptr;
}

uint64 device_host_bytes(const std::shared_ptr<const LoadedModel>&, uint32, uint32, uint32, uint32) { return 0; }

Expected<bool> prepare_device(Backend&, const LoadedModel&, const ConfigManager&, WeightProvider&, uint32, uint32) { return false; }

#endif

std::string device_placement(Backend& device) { return device.name() + ": " + device.stats().placement; }

}  // namespace vk_symbiote::pipeline
