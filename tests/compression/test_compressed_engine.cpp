// The engine with compression on and weights forced through packs by a tiny --ram-gb
// (CPU backend, cache in a temp dir): every reference case within its tolerance,
// stories260K's greedy text unchanged, the cache built once and reused, a cache of
// another model or of other codecs rebuilt, an unwritable cache location -> uncompressed
// (not an error), and a cache damaged during a run -> an error from generate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "packs/PackCache.h"
#include "packs/PackCacheSetup.h"
#include "gguf/GGUFLoader.h"
#include "model/LoadedModel.h"
#include "packs/AsyncPrefetcher.h"
#include "packs/PackWeightProvider.h"
#include "model/ModelConfig.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

constexpr uint64 kPack = 4096;
constexpr uint32 kCtx = 256;  // room for the 200-token greedy reference
constexpr uint32 kEngineBatch = 512;  // BackendSelector's n_batch (activations are budgeted for it)

// --ram-gb that forces `model` through packs of kPack bytes: the minimum the pack path
// accepts (decompression scratch included, bounded by the pack size) + a few packs.
std::string tiny_ram_gb(const Path& model, uint32 n_ctx) {
    auto g = open_model_source(model);
    EXPECT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg);
    PackOptions o;
    o.max_pack_bytes = kPack;
    o.activation_kv_bytes = estimate_activation_kv_bytes(*cfg, n_ctx, kEngineBatch);
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min);
    // Scratch per reading and decoding thread (the engine runs one decode thread: config())
    // <= the largest pack + alignment slack (AsyncPrefetcher).
    const uint64 scratch = (o.io_threads + 1) * (kPack + 4 * 4096);
    const uint64 budget = *min + scratch + 8 * pack_buffer_bytes(kPack);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", double(budget) / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

// n_ctx: kCtx, or more for a longer reference prompt (arch-llama31: 537 tokens).
ConfigManager config(const Path& model, const Path& cache_dir, std::vector<std::string> extra = {}, uint32 n_ctx = kCtx) {
    ConfigManager c;
    // --compressed-reads always: the page cache serves these tiny files faster than any decode,
    // so auto would switch to raw reads after a few packs and the tests would not see the cache.
    std::vector<std::string> args = {"--disable-gpu", "--log-level", "ERROR", "--ram-gb", tiny_ram_gb(model, n_ctx), "--max-pack-mb", "0.00390625",
                                     "--ctx-size", std::to_string(n_ctx), "--decode-threads", "1", "--compressed-reads", "always"};
    if (!cache_dir.empty()) args.insert(args.end(), {"--cache-dir", cache_dir.string()});
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });
    EXPECT_TRUE(r) << r.error().to_string();
    return c;
}

Path fresh_dir(const std::string& name) {
    Path d = test::tmp_dir() / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::unique_ptr<VulkanSymbioteEngine> make_engine(const Path& model, const ConfigManager& cfg) {
    auto e = VulkanSymbioteEngine::create(model, cfg);
    EXPECT_TRUE(e) << e.error().to_string();
    return e ? std::move(*e) : nullptr;
}

struct CacheInfo {
    std::vector<std::string> codecs;
    double ratio = 0;
};
CacheInfo read_cache(const Path& model, const Path& cache) {
    auto g = open_model_source(model);
    auto cfg = ModelConfig::from_source(**g);
    auto reg = TensorRegistry::bind(*cfg, **g);
    auto plan = plan_packs(*reg, {kPack});
    auto r = PackCacheReader::open(cache, **g, *plan);
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) return {};
    return {(*r)->codec_names(), (*r)->ratio()};
}

class CompressedEngineReference : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CompressedEngineReference, LogitsThroughTinyBudgetAndPackCache) {
    auto rc = test::load_reference_case(GetParam());
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path model = test::models_dir() / rc->model;
    const Path dir = fresh_dir("ref-" + GetParam());
    auto eng = make_engine(model, config(model, dir, {}, std::max<uint32>(kCtx, uint32(rc->prompt_tokens.size()))));
    ASSERT_TRUE(eng);
    EXPECT_NE(eng->describe().find("pack cache"), std::string::npos) << eng->describe();
    EXPECT_TRUE(fs::exists(pack_cache_path(model, dir)));
    auto logits = eng->evaluate(rc->prompt_tokens);
    ASSERT_TRUE(logits) << logits.error().to_string();
    ASSERT_EQ(logits->size(), rc->logits.size());
    for (size_t p = 0; p < rc->prompt_tokens.size(); ++p) {
        const float* a = logits->data() + p * rc->n_vocab;
        EXPECT_LT(test::nmse(a, rc->logits_at(p), rc->n_vocab), rc->tolerance()) << "position " << p;
        if (rc->decisive(p)) {
            EXPECT_EQ(test::argmax(a, rc->n_vocab), test::argmax(rc->logits_at(p), rc->n_vocab)) << "position " << p;
        }
    }
    const PerformanceMetrics& m = eng->get_performance_metrics();
    EXPECT_GT(m.ram_pack_hits + m.ram_pack_misses, 0u);  // a pack found loading (prefetched) counts as a hit
    EXPECT_GT(m.weight_bytes_disk, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllCases, CompressedEngineReference, ::testing::ValuesIn(test::list_reference_cases()), test::CaseName{});

// Greedy text unchanged; the second engine reuses the cache (not rewritten); metrics
// restart at reset; fewer bytes read than with --no-compression for the same work.
TEST(CompressedEngine, GreedyStoriesUnchangedCacheReusedCountersRestart) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path model = test::models_dir() / "stories260K.gguf";
    const Path dir = fresh_dir("greedy");
    GenerationOptions o;
    o.temperature = 0;
    o.max_tokens = uint32(rc->greedy_tokens.size());
    fs::file_time_type built_at;
    for (int run = 0; run < 2; ++run) {
        // No read-ahead, so demand misses occur and the counters have something to restart
        // from (with the oracle's window every pack of this tiny model arrives before use).
        auto eng = make_engine(model, config(model, dir, {"--prefetch-lookahead", "0"}));
        ASSERT_TRUE(eng);
        const Path cache = pack_cache_path(model, dir);
        ASSERT_TRUE(fs::exists(cache));
        if (run == 0) {
            built_at = fs::last_write_time(cache);
        } else {
            EXPECT_EQ(fs::last_write_time(cache), built_at) << "a valid cache must be reused, not rebuilt";
        }
        std::vector<uint32> out;
        auto text = eng->generate_tokens(rc->prompt_tokens, o, nullptr, &out);
        ASSERT_TRUE(text) << text.error().to_string();
        EXPECT_EQ(out, rc->greedy_tokens);
        const PerformanceMetrics m = eng->get_performance_metrics();
        EXPECT_GT(m.ram_pack_misses, 0u);
        EXPECT_GT(m.ram_pack_hits + m.ram_pack_misses, uint64(out.size()));
        EXPECT_GT(m.weight_bytes_disk, 0u);
        eng->reset_performance_metrics();
        const PerformanceMetrics z = eng->get_performance_metrics();
        EXPECT_EQ(z.ram_pack_hits, 0u);
        EXPECT_EQ(z.ram_pack_misses, 0u);
        EXPECT_EQ(z.weight_bytes_disk, 0u);
        auto again = eng->evaluate(rc->prompt_tokens);
        ASSERT_TRUE(again);
        const PerformanceMetrics n = eng->get_performance_metrics();
        EXPECT_GT(n.ram_pack_hits + n.ram_pack_misses, 0u);
    }
}

// weight_bytes_disk counts compressed bytes: evaluating the same prompt reads fewer bytes
// from the cache of a bf16 model than from the model file.
TEST(CompressedEngine, WeightBytesDiskAreCompressedBytes) {
    auto rc = test::load_reference_case("syn-bf16");
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path model = test::models_dir() / rc->model;
    const Path dir = fresh_dir("bytes");
    uint64 bytes[2] = {0, 0};
    for (int compressed = 0; compressed < 2; ++compressed) {
        auto eng = make_engine(model, config(model, dir, compressed ? std::vector<std::string>{} : std::vector<std::string>{"--no-compression"}));
        ASSERT_TRUE(eng);
        EXPECT_EQ(fs::exists(pack_cache_path(model, dir)), compressed == 1) << "--no-compression must not build a cache";
        ASSERT_TRUE(eng->evaluate(rc->prompt_tokens));
        bytes[compressed] = eng->get_performance_metrics().weight_bytes_disk;
    }
    const double ratio = read_cache(model, pack_cache_path(model, dir)).ratio;
    EXPECT_LT(ratio, 0.9);
    EXPECT_LT(double(bytes[1]), 0.95 * double(bytes[0])) << "compressed " << bytes[1] << " vs raw " << bytes[0] << " bytes, cache ratio " << ratio;
}

// A cache of another model under this model's cache name, and a cache built with other
// codecs than compression_algorithm asks for, are rebuilt (and the results stay right).
TEST(CompressedEngine, ForeignOrOtherCodecCacheIsRebuilt) {
    auto rc = test::load_reference_case("syn-bf16");
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path model = test::models_dir() / rc->model;
    const Path other = test::models_dir() / "syn-f16.gguf";
    const Path dir = fresh_dir("foreign");
    { make_engine(other, config(other, dir)); }
    const Path cache = pack_cache_path(model, dir);
    fs::copy_file(pack_cache_path(other, dir), cache);
    {
        auto eng = make_engine(model, config(model, dir));
        ASSERT_TRUE(eng);
        auto logits = eng->evaluate(rc->prompt_tokens);
        ASSERT_TRUE(logits) << logits.error().to_string();
        for (size_t p = 0; p < rc->prompt_tokens.size(); ++p)
            EXPECT_LT(test::nmse(logits->data() + p * rc->n_vocab, rc->logits_at(p), rc->n_vocab), 1e-4) << "position " << p;
    }
    EXPECT_EQ(read_cache(model, cache).codecs, (std::vector<std::string>{"blosc-zstd", "exponent", "raw"}));
    { make_engine(model, config(model, dir, {"--compression-algorithm", "exponent"})); }
    EXPECT_EQ(read_cache(model, cache).codecs, (std::vector<std::string>{"exponent", "raw"}));
    { make_engine(model, config(model, dir, {"--compression-algorithm", "zfp"})); }
    EXPECT_EQ(read_cache(model, cache).codecs, (std::vector<std::string>{"zfp", "raw"}));
    { make_engine(model, config(model, dir, {"--compression-algorithm", "none"})); }
    EXPECT_EQ(read_cache(model, cache).codecs, (std::vector<std::string>{"zfp", "raw"})) << "'none' reads the model file and leaves the cache alone";
}

// Issue 26, defect 1: a model replaced by one of the same size and header, its mtime put
// back (`touch -r`), was served the old packs beside embedding rows from the new file.
// The engine's logits after the swap are those of the new model exactly.
TEST(CompressedEngine, ReplacedModelWithTheSameMtimeIsNeverServedTheOldCache) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path dir = fresh_dir("replaced");
    const Path model = dir / "model.gguf", twin = dir / "twin" / "model.gguf";
    fs::create_directories(twin.parent_path());
    fs::copy_file(test::models_dir() / "stories260K.gguf", model);
    fs::copy_file(model, twin);
    {  // the twin: one byte of a layer-0 matrix changed (same size, same header)
        auto g = GGUFLoader::open(twin);
        const GGUFTensorInfo* t = (*g)->find_tensor("blk.0.attn_q.weight");
        ASSERT_NE(t, nullptr);
        std::fstream f(twin, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(std::streamoff(t->file_offset + 2));
        f.put(char(0x7f));
    }
    auto logits_of = [&](const Path& m, const Path& cache_dir) {
        auto eng = make_engine(m, config(m, cache_dir));
        EXPECT_TRUE(eng);
        if (!eng) return std::vector<float>{};
        EXPECT_NE(eng->describe().find("pack cache"), std::string::npos) << eng->describe();
        auto l = eng->evaluate(rc->prompt_tokens);
        EXPECT_TRUE(l) << l.error().to_string();
        return l ? *l : std::vector<float>{};
    };
    const std::vector<float> original = logits_of(model, dir / "cache");
    const std::vector<float> expected = logits_of(twin, dir / "twin-cache");
    ASSERT_NE(original, expected) << "the changed byte must change the logits";
    const auto mtime = fs::last_write_time(model);
    {
        const std::string bytes = test::read_file(twin);
        std::ofstream(model, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
    }
    fs::last_write_time(model, mtime);
    EXPECT_EQ(logits_of(model, dir / "cache"), expected);
}

// A cache location that cannot be written: the engine runs, uncompressed, and says so.
TEST(CompressedEngine, UnwritableCacheLocationRunsUncompressed) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    const Path model = test::models_dir() / "stories260K.gguf";
    const Path dir = fresh_dir("unwritable");
    std::ofstream(dir / "a-file") << "x";
    const Path bad = dir / "a-file" / "cache";  // a directory under a regular file: never writable (even for root)
    auto eng = make_engine(model, config(model, bad));
    ASSERT_TRUE(eng);
    EXPECT_NE(eng->describe().find("no pack cache"), std::string::npos) << eng->describe();
    GenerationOptions o;
    o.temperature = 0;
    o.max_tokens = uint32(rc->greedy_tokens.size());
    std::vector<uint32> out;
    auto text = eng->generate_tokens(rc->prompt_tokens, o, nullptr, &out);
    ASSERT_TRUE(text) << text.error().to_string();
    EXPECT_EQ(out, rc->greedy_tokens);

    // A read-only model directory (mode r-x, respected even by root) and no --cache-dir.
    const Path ro = dir / "read-only";
    fs::create_directories(ro);
    const Path copy = ro / "stories260K.gguf";
    fs::copy_file(model, copy);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec);
    {
        auto e2 = make_engine(copy, config(copy, Path()));
        ASSERT_TRUE(e2);
        EXPECT_NE(e2->describe().find("no pack cache"), std::string::npos) << e2->describe();
        auto logits = e2->evaluate(rc->prompt_tokens);
        ASSERT_TRUE(logits) << logits.error().to_string();
    }
    EXPECT_FALSE(fs::exists(pack_cache_path(copy, Path())));
    fs::permissions(ro, fs::perms::owner_all);  // let the temp dir be removed
}

// The cache damaged after the engine validated it: generation fails with a Corrupt error
// naming the cache (flipped bytes in every pack, then a truncated file).
TEST(CompressedEngine, CacheDamagedDuringARunIsAnErrorFromGenerate) {
    const Path model = test::models_dir() / "stories260K.gguf";
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    GenerationOptions o;
    o.temperature = 0;
    o.max_tokens = 4;
    for (int mode = 0; mode < 2; ++mode) {
        const Path dir = fresh_dir(mode == 0 ? "damaged-flip" : "damaged-truncate");
        auto eng = make_engine(model, config(model, dir));
        ASSERT_TRUE(eng);
        const Path cache = pack_cache_path(model, dir);
        auto g = open_model_source(model);
        auto cfg = ModelConfig::from_source(**g);
        auto reg = TensorRegistry::bind(*cfg, **g);
        auto plan = plan_packs(*reg, {kPack});
        auto reader = PackCacheReader::open(cache, **g, *plan);
        ASSERT_TRUE(reader) << reader.error().to_string();
        if (mode == 0) {
            std::fstream f(cache, std::ios::in | std::ios::out | std::ios::binary);
            for (uint64 i = 0; i < (*reader)->pack_count(); ++i) {
                const uint64 at = (*reader)->stored_offset(i) + (*reader)->stored_bytes(i) / 2;
                f.seekg(std::streamoff(at));
                char c = 0;
                f.read(&c, 1);
                c = char(~c);
                f.seekp(std::streamoff(at));
                f.write(&c, 1);
            }
        } else {
            fs::resize_file(cache, (*reader)->stored_offset(0) + 1);
        }
        auto text = eng->generate_tokens(rc->prompt_tokens, o, nullptr, nullptr);
        ASSERT_FALSE(text) << "generated '" << *text << "' from a damaged cache";
        EXPECT_EQ(text.error().code, ErrorCode::Corrupt) << text.error().to_string();
        EXPECT_NE(text.error().message.find(cache.string()), std::string::npos) << text.error().message;
    }
}

TEST(CompressedEngine, CompressionAlgorithmNames) {
    EXPECT_EQ(*pack_cache_candidates("blosc2"), std::vector<std::string>{});
    EXPECT_EQ(*pack_cache_candidates("blosc"), std::vector<std::string>{});
    EXPECT_EQ(*pack_cache_candidates("exponent"), std::vector<std::string>{"exponent"});
    EXPECT_EQ(*pack_cache_candidates("zfp"), std::vector<std::string>{"zfp"});
    EXPECT_EQ(*pack_cache_candidates("blosc-lz4"), std::vector<std::string>{"blosc-lz4"});
    auto none = pack_cache_candidates("none");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::InvalidArgument);
    auto bogus = pack_cache_candidates("lzma");
    ASSERT_FALSE(bogus);
    EXPECT_NE(bogus.error().message.find("exponent"), std::string::npos) << bogus.error().message;
}
