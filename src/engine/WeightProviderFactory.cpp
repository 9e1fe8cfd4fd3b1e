#include "engine/WeightProviderFactory.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "common/Progress.h"
#include "packs/PackCacheSetup.h"
#include "config/Logger.h"
#include "memory/FileWeightProvider.h"
#include "packs/PackPlanner.h"
#include "packs/PackWeightProvider.h"
#include "model/LoadedModel.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

namespace {

std::string gb(uint64 bytes) {
    std::ostringstream os;
    os.precision(3);
    os << double(bytes) / MemoryConfig::kBytesPerGB << " GB";
    return os.str();
}

// The pack cache of `model` for packs of max_pack_bytes: an existing valid one, else a
// new one (progress on stderr). Errors: InvalidArgument for a bad compression_algorithm;
// anything else (unwritable directory, ...) is for the caller to report and run without.
Expected<PackCacheStatus> find_or_build_cache(const LoadedModel& model, const ConfigManager& config, uint64 max_pack_bytes) {
    const MemoryConfig& mem = config.memory();
    auto cand = pack_cache_candidates(mem.compression_algorithm);
    if (!cand) return cand.error();
    auto plan = plan_packs(model.registry(), {max_pack_bytes});
    if (!plan) return make_error(plan.error().code, model.path().string() + ": max_pack_mb: " + plan.error().message);

    PackCacheOptions opts;
    opts.cache_dir = mem.cache_dir;
    opts.candidates = std::move(*cand);
    opts.threads = config.performance().threads;
    if (!opts.cache_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts.cache_dir, ec);  // a failure shows as the build's write error
    }
    const Path path = pack_cache_path(model.path(), opts.cache_dir);
    std::unique_ptr<ProgressReporter> progress;
    auto st = ensure_pack_cache(model.gguf(), *plan, opts, [&](uint64, uint64, uint64 raw_done) -> ExpectedVoid {
        if (!progress) progress = std::make_unique<ProgressReporter>("building pack cache " + path.string());
        progress->update(raw_done, plan->total_bytes);
        return {};
    });
    if (progress) progress->finish();
    if (st && !st->rebuilt_because.empty())
        VKS_LOG_WARN("pack cache " << path.string() << (st->built ? " was rebuilt: " : ": ") << st->rebuilt_because);
    return st;
}

}  // namespace

Expected<std::unique_ptr<WeightProvider>> open_weight_provider(std::shared_ptr<const LoadedModel> model, const ConfigManager& config, uint64 model_bytes, uint64 act_kv_bytes,
                                                               std::string& how) {
    const MemoryConfig& mem = config.memory();
    const uint64 ram_budget = mem.ram_budget_bytes();
    if (model_bytes + act_kv_bytes <= ram_budget) {
        auto p = FileWeightProvider::open(std::move(model));
        how = "weights resident in RAM (" + gb(model_bytes) + " <= --ram-gb " + gb(ram_budget) + ")";
        return std::unique_ptr<WeightProvider>(std::move(p));
    }
    PackOptions po;
    po.ram_budget_bytes = ram_budget;
    po.max_pack_bytes = mem.max_pack_bytes();
    po.oracle = {config.prefetch_lookahead(), mem.eviction_aggression, 0, mem.expert_half_life};
    po.activation_kv_bytes = act_kv_bytes;  // the KV cache and activations count against --ram-gb too
    po.direct_io = mem.direct_io;
    po.io_threads = config.tuning().io_threads;
    po.io_staging_bytes = uint64(config.tuning().io_staging_mb) << 20;
    std::string source = "read from the model file (compression off)";
    if (mem.enable_compression && mem.compression_algorithm != "none") {
        auto cache = find_or_build_cache(*model, config, po.max_pack_bytes);
        if (!cache && cache.error().code == ErrorCode::InvalidArgument) return cache.error();
        if (cache) {
            po.pack_cache = cache->path;
            source = "read from the pack cache " + cache->path.string() + (cache->built ? " (built now)" : "");
        } else {
            VKS_LOG_WARN("no compressed pack cache, packs are read uncompressed from the model file: " << cache.error().message
                                                                                                      << " (--cache-dir DIR puts the cache in a writable directory)");
            source = "read from the model file (no pack cache: " + cache.error().message + ")";
        }
    }
    auto p = PackWeightProvider::open(std::move(model), po);
    if (!p) return p.error();
    if (const PackCacheReader* c = (*p)->pack_cache()) {
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.3f", c->ratio());
        source += ", stored/raw " + std::string(ratio);
    }
    how = "weights streamed in packs (weights " + gb(model_bytes) + " + KV/activations " + gb(act_kv_bytes) + " > --ram-gb " + gb(ram_budget) + "), " + source;
    return std::unique_ptr<WeightProvider>(std::move(*p));
}

}  // namespace vk_symbiote
