// BackendSelector: decides, once per engine, where weights come from (a WeightProvider)
// and where they are computed (a Backend), from the model's size and the options:
//   --disable-gpu            -> CPU backend
//   Vulkan device available  -> Vulkan backend; weights that do not fit the VRAM budget
//                               stream through slots (a budget below the minimum is an error)
//   otherwise                -> CPU backend (with a log line saying why)
// and the RAM budget picks whole-tensor RAM residency or streamed packs.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/Backend.h"
#include "memory/WeightProvider.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ConfigManager;
struct PerformanceMetrics;

struct SelectedBackend {
    std::unique_ptr<WeightProvider> provider;
    std::unique_ptr<Backend> backend;  // destroyed before the provider (declared after it)
    uint32 n_batch = 512;
    std::string backend_name;          // "cpu" / "vulkan"
    std::string description;           // one line for logs and --verbose
    std::function<uint64()> gpu_time_ns;                      // total GPU time so far (may be empty)
    std::function<void(PerformanceMetrics&)> fill_memory_metrics;  // bytes moved, peaks (may be empty)
    std::function<void()> reset_counters;                     // (may be empty)

    SelectedBackend() = default;
    SelectedBackend(SelectedBackend&&) = default;
    SelectedBackend& operator=(SelectedBackend&& o) {
        backend.reset();  // keep backend-before-provider destruction order on reassignment
        provider = std::move(o.provider);
        backend = std::move(o.backend);
        n_batch = o.n_batch;
        backend_name = std::move(o.backend_name);
        description = std::move(o.description);
        gpu_time_ns = std::move(o.gpu_time_ns);
        fill_memory_metrics = std::move(o.fill_memory_metrics);
        reset_counters = std::move(o.reset_counters);
        return *this;
    }
    ~SelectedBackend() { backend.reset(); }
};

Expected<SelectedBackend> select_backend(const Path& model_path, const ConfigManager& config);

}  // namespace vk_symbiote
