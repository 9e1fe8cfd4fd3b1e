#include "engine/WeightProviderFactory.h"

#include <memory>
#include <sstream>

#include "config/Logger.h"
#include "memory/FileWeightProvider.h"
#include "memory/PackWeightProvider.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

namespace {

constexpr double kBytesPerGB = 1024.0 * 1024.0 * 1024.0;  // budgets: 1 GB = 2^30 bytes (ConfigManager.h)

std::string gb(uint64 bytes) {
    std::ostringstream os;
    os.precision(3);
    os << double(bytes) / kBytesPerGB << " GB";
    return os.str();
}

}  // namespace

Expected<std::unique_ptr<WeightProvider>> open_weight_provider(const Path& model, const ConfigManager& config, uint64 model_bytes, uint64 act_kv_bytes, std::string& how,
                                                        std::function<void(PerformanceMetrics&)>& fill, std::function<void()>& reset) {
    const MemoryConfig& mem = config.memory();
    uint64 ram_budget = uint64(mem.ram_budget_gb * kBytesPerGB);
    if (model_bytes + act_kv_bytes <= ram_budget) {
        auto p = FileWeightProvider::open(model);
        if (!p) return p.error();
        FileWeightProvider* raw = p->get();
        auto base = std::make_shared<uint64>(0);  // counters restart at reset_performance_metrics()
        fill = [raw, base](PerformanceMetrics& m) { m.weight_bytes_disk = raw->loaded_bytes() - *base; };
        reset = [raw, base] { *base = raw->loaded_bytes(); };
        how = "weights resident in RAM (" + gb(model_bytes) + " <= --ram-gb " + gb(ram_budget) + ")";
        return std::unique_ptr<WeightProvider>(std::move(*p));
    }
    PackOptions po;
    po.ram_budget_bytes = ram_budget;
    po.max_pack_bytes = uint64(mem.max_pack_mb * 1024 * 1024);
    po.prefetch_lookahead = config.prefetch_lookahead();
    po.activation_kv_bytes = act_kv_bytes;  // the KV cache and activations count against --ram-gb too
    auto p = PackWeightProvider::open(model, po);
    if (!p) return p.error();
    PackWeightProvider* raw = p->get();
    auto base = std::make_shared<uint64>(0);
    fill = [raw, base](PerformanceMetrics& m) { m.weight_bytes_disk = raw->manager().get_ram_stats().bytes_loaded - *base; };
    reset = [raw, base] { *base = raw->manager().get_ram_stats().bytes_loaded; };
    how = "weights streamed in packs (weights " + gb(model_bytes) + " + KV/activations " + gb(act_kv_bytes) + " > --ram-gb " + gb(ram_budget) + ")";
    return std::unique_ptr<WeightProvider>(std::move(*p));
}

}  // namespace vk_symbiote
