// Not a timed test: the end-to-end effect of the pack cache on a disk-bound run, for the
// closing note of issue 6. Disabled; run by hand on a model larger than the budget:
//
//   VKS_MEASURE_MODEL=/tmp/m-bf16.gguf VKS_MEASURE_RAM_MB=300 [VKS_MEASURE_CACHE_DIR=/tmp/c]
//   [VKS_MEASURE_TOKENS=8] [VKS_MEASURE_EQUAL_PACK_BUDGET=1] test_packs --gtest_also_run_disabled_tests
//   --gtest_filter='CompressedPacksMeasure.*'
//
// Generates tokens on the CPU backend with packs read with O_DIRECT (no page cache)
// from the model file and from the pack cache, alternating A B A B, and prints per run:
// ms per generated token, weight bytes read per token, I/O busy time and decode time.
// Both runs get the same --ram-gb (the product's comparison); with
// VKS_MEASURE_EQUAL_PACK_BUDGET=1 the cache run gets its scratch buffers on top, so
// both keep the same pack budget (isolates the decode cost).
// The one assertion: both runs compute the same logits.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "backend/cpu/CpuBackend.h"
#include "packs/PackCache.h"
#include "packs/PackCacheSetup.h"
#include "packs/PackWeightProvider.h"
#include "packs/PackTestUtil.h"

using namespace vk_symbiote;

namespace {

uint64 env_u64(const char* name, uint64 def) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

struct RunResult {
    double ms_per_token = 0;
    double bytes_per_token = 0;
    double io_s_per_token = 0;
    double decode_s_per_token = 0;
    std::vector<float> last_logits;
};

RunResult generate(const Path& model, const Path& cache, uint64 ram_bytes, uint32 n_tokens) {
    RunResult res;
    constexpr uint32 kCtx = 64, kBatch = 1;
    auto m = packtest::open_model(model);
    PackOptions o;
    o.direct_io = true;
    o.pack_cache = cache;
    o.ram_budget_bytes = ram_bytes;
    o.activation_kv_bytes = estimate_activation_kv_bytes(m.cfg, kCtx, kBatch);
    auto w = PackWeightProvider::open(model, o);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return res;
    CpuBackend be(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    auto ok = be.prepare(**w, kCtx, kBatch);
    EXPECT_TRUE(ok) << ok.error().to_string();
    std::vector<float> logits(m.cfg.n_vocab);
    uint32 tok = 1;
    auto step = [&](uint32 pos) {
        ForwardRequest req{&tok, 1, pos, false, logits.data()};
        auto f = be.forward(req);
        EXPECT_TRUE(f) << f.error().to_string();
        tok = uint32(std::max_element(logits.begin(), logits.end()) - logits.begin());
    };
    step(0);  // warm-up token (fills the resident set)
    const PackTierStats s0 = (*w)->manager().get_ram_stats();
    const IoStats io0 = (*w)->manager().io_stats();
    auto t0 = std::chrono::steady_clock::now();
    for (uint32 i = 1; i <= n_tokens; ++i) step(i);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const PackTierStats s1 = (*w)->manager().get_ram_stats();
    const IoStats io1 = (*w)->manager().io_stats();
    res.ms_per_token = 1e3 * secs / n_tokens;
    res.bytes_per_token = double(s1.bytes_loaded - s0.bytes_loaded) / n_tokens;
    res.io_s_per_token = (io1.busy_seconds - io0.busy_seconds) / n_tokens;
    res.decode_s_per_token = (io1.decode_seconds - io0.decode_seconds) / n_tokens;
    res.last_logits = logits;
    std::printf("  %-13s %8.1f ms/token  %8.1f MB read/token  I/O busy %6.3f s/token  decode %6.3f s/token  direct_io %s\n"
                "                pack budget %.1f MB, loads/token %.1f, raw MB loaded/token %.1f, prefetches issued/skipped %llu/%llu\n",
                cache.empty() ? "uncompressed" : "pack cache", res.ms_per_token, res.bytes_per_token / 1e6, res.io_s_per_token,
                res.decode_s_per_token, (*w)->manager().direct_io_active() ? "yes" : "no", double((*w)->manager().pack_budget_bytes()) / 1e6,
                double(s1.loads - s0.loads) / n_tokens,
                double(cache.empty() ? s1.bytes_loaded - s0.bytes_loaded : s1.bytes_decompressed - s0.bytes_decompressed) / n_tokens / 1e6,
                (unsigned long long)(s1.prefetch_issued - s0.prefetch_issued), (unsigned long long)(s1.prefetch_skipped - s0.prefetch_skipped));
    return res;
}

}  // namespace

TEST(CompressedPacksMeasure, DISABLED_TimePerTokenWithAndWithoutCompression) {
    const char* model_env = std::getenv("VKS_MEASURE_MODEL");
    if (!model_env) GTEST_SKIP() << "set VKS_MEASURE_MODEL";
    const Path model = model_env;
    const uint64 ram = env_u64("VKS_MEASURE_RAM_MB", 160) << 20;
    const uint32 n = uint32(env_u64("VKS_MEASURE_TOKENS", 8));
    const char* dir_env = std::getenv("VKS_MEASURE_CACHE_DIR");
    auto m = packtest::open_model(model);
    auto plan = plan_packs(m.reg, {PackOptions{}.max_pack_bytes});
    ASSERT_TRUE(plan);
    PackCacheOptions co;
    co.cache_dir = dir_env ? Path(dir_env) : Path();
    auto t0 = std::chrono::steady_clock::now();
    auto st = ensure_pack_cache(*m.file, *plan, co);
    ASSERT_TRUE(st) << st.error().to_string();
    auto reader = PackCacheReader::open(st->path, *m.file, *plan);
    ASSERT_TRUE(reader);
    std::printf("model %s: %.1f MB of packs, RAM budget %.1f MB; cache %s: ratio %.4f (%s in %.1f s)\n", model.c_str(), double(plan->total_bytes) / 1e6,
                double(ram) / 1e6, st->path.c_str(), (*reader)->ratio(), st->built ? "built" : "existing",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    PrefetcherOptions io;
    io.threads = PackOptions{}.io_threads;
    io.direct_io = true;
    const uint64 plain_staging = AsyncPrefetcher::staging_bytes_for(io);
    io.pack_cache = std::shared_ptr<const PackCacheReader>(std::move(*reader));
    const uint64 extra = env_u64("VKS_MEASURE_EQUAL_PACK_BUDGET", 0) ? AsyncPrefetcher::staging_bytes_for(io) - plain_staging : 0;
    std::vector<float> a, b;
    for (int round = 0; round < 2; ++round) {
        a = generate(model, Path(), ram, n).last_logits;
        b = generate(model, st->path, ram + extra, n).last_logits;
    }
    EXPECT_EQ(a, b) << "the pack cache changed the computed function";
}
