// BackendSelector: decides, once per engine, where weights come from (a WeightProvider)
// and where they are computed (a Backend), from the model's size and the options:
//   --disable-gpu            -> CPU backend
//   Vulkan device available  -> Vulkan backend; weights that do not fit the VRAM budget
//                               stream through slots (a budget below the minimum is an error)
//   otherwise                -> CPU backend (with a log line saying why)
// and the RAM budget picks whole-tensor RAM residency or streamed packs.
#pragma once

#include <memory>
#include <string>

#include "backend/Backend.h"
#include "memory/WeightProvider.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ConfigManager;
class LoadedModel;
struct SamplingConfig;
struct TuningConfig;

// The engine reads metrics as snapshots: backend->stats() and provider->stats().
struct SelectedBackend {
    std::unique_ptr<WeightProvider> provider;
    std::unique_ptr<Backend> backend;  // destroyed before the provider (declared after it)
    uint32 n_batch = 512;
    std::string backend_name;          // "cpu" / "vulkan"
    std::string description;           // one line for logs and --verbose

    SelectedBackend() = default;
    SelectedBackend(SelectedBackend&&) = default;
    SelectedBackend& operator=(SelectedBackend&& o) {
        backend.reset();  // keep backend-before-provider destruction order on reassignment
        provider = std::move(o.provider);
        backend = std::move(o.backend);
        n_batch = o.n_batch;
        backend_name = std::move(o.backend_name);
        description = std::move(o.description);
        return *this;
    }
    ~SelectedBackend() { backend.reset(); }
};

Expected<SelectedBackend> select_backend(std::shared_ptr<const LoadedModel> model, const ConfigManager& config);

// The context of a run: --ctx-size N, 0: the model's trained context, unset: that, at most 2048.
uint32 choose_ctx(const ModelConfig& cfg, const SamplingConfig& s);
// Positions of the paged KV cache: --kv-pool-tokens, else a full context per --parallel sequence.
uint64 kv_pool_tokens(const ConfigManager& config, uint32 n_ctx);
// The CPU matvecs' software prefetch: the [tuning] knob, else the path's default.
uint64 cpu_prefetch_bytes(const TuningConfig& t, uint64 path_default);
#ifdef VKS_HAS_VULKAN
class VulkanBackend;
// A pipeline stage's device (src/pipeline), chosen as select_backend chooses one: the Vulkan
// backend one process would run, its VRAM budget --vram-gb or else the device's free memory
// less the margin; nullptr with the reason in `why_not` when the CPU path runs instead
// (--disable-gpu, no device, only lavapipe and no --device-index).
std::unique_ptr<VulkanBackend> open_stage_device(const ConfigManager& config, std::string& why_not);
// Prepares it over `layers` (the stage's LayerRangeProvider) as select_backend prepares one:
// the probed peaks, a KV pool for --parallel. false (with a warning): the layers cannot run on
// the device for another reason than the budget, the CPU path runs them; a budget too small
// is an error naming the minimum.
Expected<bool> prepare_stage_device(VulkanBackend& vb, const Path& model_path, const ConfigManager& config, WeightProvider& layers, uint32 n_ctx,
                                    uint32 n_batch);
#endif
// Opens and parses the file first (tests).
Expected<SelectedBackend> select_backend(const Path& model_path, const ConfigManager& config);

}  // namespace vk_symbiote
