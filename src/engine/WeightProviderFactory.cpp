#include "engine/WeightProviderFactory.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "common/Progress.h"
#include "compression/PackCacheSetup.h"
#include "config/EnvKnob.h"
#include "config/Logger.h"
#include "gguf/GGUFLoader.h"
#include "memory/FileWeightProvider.h"
#include "memory/PackPlanner.h"
#include "memory/PackWeightProvider.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
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

// The pack cache of `model` for packs of max_pack_bytes: an existing valid one, else a
// new one (progress on stderr). Errors: InvalidArgument for a bad compression_algorithm;
// anything else (unwritable directory, ...) is for the caller to report and run without.
Expected<PackCacheStatus> find_or_build_cache(const Path& model, const ConfigManager& config, uint64 max_pack_bytes) {
    const MemoryConfig& mem = config.memory();
    auto cand = pack_cache_candidates(mem.compression_algorithm);
    if (!cand) return cand.error();
    auto g = GGUFLoader::open(model);
    if (!g) return g.error();
    auto cfg = ModelConfig::from_gguf(**g);
    if (!cfg) return cfg.error();
    auto reg = TensorRegistry::bind(*cfg, **g);
    if (!reg) return reg.error();
    auto plan = plan_packs(*reg, {max_pack_bytes});
    if (!plan) return make_error(plan.error().code, model.string() + ": max_pack_mb: " + plan.error().message);

    PackCacheOptions opts;
    opts.cache_dir = mem.cache_dir;
    opts.candidates = std::move(*cand);
    opts.threads = config.performance().threads;
    if (!opts.cache_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts.cache_dir, ec);  // a failure shows as the build's write error
    }
    const Path path = pack_cache_path(model, opts.cache_dir);
    std::unique_ptr<ProgressReporter> progress;
    auto st = ensure_pack_cache(**g, *plan, opts, [&](uint64, uint64, uint64 raw_done) -> ExpectedVoid {
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

Expected<std::unique_ptr<WeightProvider>> open_weight_provider(const Path& model, const ConfigManager& config, uint64 model_bytes, uint64 act_kv_bytes, std::string& how,
                                                        std::function<void(PerformanceMetrics&)>& fill, std::function<void()>& reset) {
    const MemoryConfig& mem = config.memory();
    uint64 ram_budget = uint64(mem.ram_budget_gb * kBytesPerGB);
    // A/B knobs of the pack reads: VK_SYMBIOTE_IO_THREADS=N background I/O threads (1-64),
    // VK_SYMBIOTE_IO_STAGING_MB=N MiB per O_DIRECT read (1-256; the staging counts in --ram-gb).
    int64 io_threads = PackOptions{}.io_threads, staging_mb = int64(PackOptions{}.io_staging_bytes >> 20);
    VKS_TRY(env_whole_number("VK_SYMBIOTE_IO_THREADS", 1, 64, "a thread count", io_threads));
    VKS_TRY(env_whole_number("VK_SYMBIOTE_IO_STAGING_MB", 1, 256, "MiB", staging_mb));
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
    po.max_pack_bytes = mem.max_pack_bytes();
    po.prefetch_lookahead = config.prefetch_lookahead();
    po.eviction_aggression = mem.eviction_aggression;
    po.activation_kv_bytes = act_kv_bytes;  // the KV cache and activations count against --ram-gb too
    po.direct_io = mem.direct_io;
    po.io_threads = uint32(io_threads);
    po.io_staging_bytes = uint64(staging_mb) << 20;
    std::string source = "read from the model file (compression off)";
    if (mem.enable_compression && mem.compression_algorithm != "none") {
        auto cache = find_or_build_cache(model, config, po.max_pack_bytes);
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
    auto p = PackWeightProvider::open(model, po);
    if (!p) return p.error();
    PackWeightProvider* raw = p->get();
    if (const PackCacheReader* c = raw->pack_cache()) {
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.3f", c->ratio());
        source += ", stored/raw " + std::string(ratio);
    }
    struct Base {
        uint64 bytes = 0, hits = 0, misses = 0;
    };
    auto base = std::make_shared<Base>();  // counters restart at reset_performance_metrics()
    fill = [raw, base](PerformanceMetrics& m) {
        const PackTierStats s = raw->manager().get_ram_stats();
        m.weight_bytes_disk = s.bytes_loaded - base->bytes;  // compressed bytes when read from the pack cache
        m.ram_pack_hits = s.hits - base->hits;
        m.ram_pack_misses = s.misses - base->misses;
        m.ram_pack_budget_bytes = raw->manager().pack_budget_bytes();
        m.ram_pack_resident_bytes = s.resident_bytes;
        const OracleStats o = raw->manager().oracle_stats();
        m.ram_lookahead_layers = o.effective_lookahead;
        const uint64 cap = raw->manager().read_ahead_bytes();
        m.ram_read_ahead_bytes = cap == PackManagerOptions::kNoReadAheadCap ? 0 : cap;
        m.ram_prediction_hit_rate = o.hit_rate;
    };
    reset = [raw, base] {
        const PackTierStats s = raw->manager().get_ram_stats();
        *base = Base{s.bytes_loaded, s.hits, s.misses};
    };
    how = "weights streamed in packs (weights " + gb(model_bytes) + " + KV/activations " + gb(act_kv_bytes) + " > --ram-gb " + gb(ram_budget) + "), " + source;
    return std::unique_ptr<WeightProvider>(std::move(*p));
}

}  // namespace vk_symbiote
