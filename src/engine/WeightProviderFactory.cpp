#include "engine/WeightProviderFactory.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>

#include "common/Progress.h"
#include "common/Units.h"
#include "packs/PackCacheSetup.h"
#include "config/Logger.h"
#include "engine/BudgetCheck.h"
#include "memory/FileWeightProvider.h"
#include "packs/PackPlanner.h"
#include "packs/PackWeightProvider.h"
#include "model/LoadedModel.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

namespace {

// The pack cache of `model` for `plan`: an existing valid one, else a new one built within
// --ram-gb (progress on stderr). Errors: anything (unwritable directory, a budget below one
// build thread, ...) is for the caller to report and run without.
Expected<PackCacheStatus> find_or_build_cache(const LoadedModel& model, const ConfigManager& config, const PackPlan& plan) {
    const MemoryConfig& mem = config.memory();
    PackCacheOptions opts;
    opts.cache_dir = mem.cache_dir;
    opts.candidates = *pack_cache_candidates(mem.compression_algorithm);  // checked by plan_weight_source
    opts.threads = thread_count(config.performance());
    opts.memory_budget_bytes = mem.ram_budget_bytes();  // nothing else of the engine's is held yet
    if (!opts.cache_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts.cache_dir, ec);  // a failure shows as the build's write error
    }
    const Path path = pack_cache_path(model.path(), opts.cache_dir);
    ProgressReporter progress("building pack cache " + path.string());
    progress.quiet_seconds = 1;  // a build this short needs no progress lines
    auto st = ensure_pack_cache(model.source(), plan, opts, [&](uint64, uint64, uint64 raw_done) -> ExpectedVoid {
        progress.update(raw_done, plan.total_bytes);
        return {};
    });
    if (st && st->built) progress.finish();
    if (st && st->content_checked && !st->built)
        VKS_LOG_INFO("pack cache " << path.string() << ": the model file was touched, copied or moved since the cache last saw it; its packs matched the model's bytes");
    if (st && !st->rebuilt_because.empty())
        VKS_LOG_WARN("pack cache " << path.string() << (st->built ? " was rebuilt: " : ": ") << st->rebuilt_because);
    return st;
}

PackOptions pack_options(const ConfigManager& config, uint64 act_kv_bytes) {
    const MemoryConfig& mem = config.memory();
    PackOptions po;
    po.ram_budget_bytes = mem.ram_budget_bytes();
    po.max_pack_bytes = mem.max_pack_bytes();
    po.oracle = {config.prefetch_lookahead(), mem.eviction_aggression, 0, mem.expert_half_life};
    po.activation_kv_bytes = act_kv_bytes;  // the KV cache and activations count against --ram-gb too
    po.direct_io = mem.direct_io;
    po.io_threads = config.tuning().io_threads;
    po.io_staging_bytes = uint64(config.tuning().io_staging_mb) << 20;
    // Decoding is CPU work beside the reads: half the hardware threads by default, leaving the
    // rest to the forward pass.
    const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
    po.decode_threads = config.tuning().decode_threads ? config.tuning().decode_threads : std::max(1u, hw / 2);
    auto reads = parse_compressed_reads(mem.compressed_reads);  // an error is refused by plan_weight_source
    po.compressed_reads = reads ? *reads : CompressedReads::Auto;
    po.on_read_mode_switch = [](const std::string& why) { VKS_LOG_WARN(why); };
    return po;
}

}  // namespace

Expected<WeightSource> plan_weight_source(const LoadedModel& model, const ConfigManager& config, uint64 model_bytes, uint64 act_kv_bytes) {
    const MemoryConfig& mem = config.memory();
    const uint64 ram_budget = mem.ram_budget_bytes();
    WeightSource src;
    if (model_bytes + act_kv_bytes <= ram_budget) {
        src.how = "weights resident in RAM (" + format_gib(model_bytes) + " <= --ram-gb " + format_gib(ram_budget) + ")";
        return src;
    }
    src.packs = true;
    src.pack_options = pack_options(config, act_kv_bytes);
    auto reads = parse_compressed_reads(mem.compressed_reads);
    if (!reads) return reads.error();
    // compressed_reads = never: raw reads of the model file, so no cache is looked for or built.
    src.pack_cache = mem.enable_compression && mem.compression_algorithm != "none" && *reads != CompressedReads::Never;
    if (src.pack_cache) {
        auto cand = pack_cache_candidates(mem.compression_algorithm);
        if (!cand) return cand.error();
    }
    VKS_TRY(PackWeightProvider::check_ram_budget(model, src.pack_options, src.pack_cache));
    src.how = "weights streamed in packs (weights " + format_gib(model_bytes) + " + KV/activations " + format_gib(act_kv_bytes) + " > --ram-gb " +
              format_gib(ram_budget) + ")";
    return src;
}

Expected<std::unique_ptr<WeightProvider>> open_weight_provider(std::shared_ptr<const LoadedModel> model, const ConfigManager& config,
                                                               const WeightSource& source, std::string& how) {
    how = source.how;
    if (!source.packs) {
        auto p = FileWeightProvider::open(std::move(model));
        // Progress (GiB, rate, ETA) when reading the weights into RAM takes more than a second.
        auto progress = std::make_shared<ProgressReporter>("loading the weights into RAM");
        progress->quiet_seconds = 1;
        p->on_load([progress](uint64 loaded, uint64 total) {
            progress->update(loaded, total);
            if (loaded >= total) progress->finish();
        });
        return std::unique_ptr<WeightProvider>(std::move(p));
    }
    PackOptions po = source.pack_options;
    std::string from = "read from the model file (compression off)";
    if (source.pack_cache) {
        auto plan = plan_packs(model->registry(), {po.max_pack_bytes});
        if (!plan) return make_error(plan.error().code, model->path().string() + ": max_pack_mb: " + plan.error().message);
        auto cache = find_or_build_cache(*model, config, *plan);
        if (cache) {
            po.pack_cache = cache->path;
            from = "read from the pack cache " + cache->path.string() + (cache->built ? " (built now)" : "");
        } else {
            VKS_LOG_WARN("no compressed pack cache, packs are read uncompressed from the model file: " << cache.error().message
                                                                                                      << " (--cache-dir DIR puts the cache in a writable directory)");
            from = "read from the model file (no pack cache: " + cache.error().message + ")";
        }
    }
    auto p = PackWeightProvider::open(std::move(model), po);
    if (!p) return p.error();
    if (const PackCacheReader* c = (*p)->pack_cache()) {
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.3f", c->ratio());
        from += ", stored/raw " + std::string(ratio);
    }
    how += ", " + from;
    return std::unique_ptr<WeightProvider>(std::move(*p));
}

}  // namespace vk_symbiote
