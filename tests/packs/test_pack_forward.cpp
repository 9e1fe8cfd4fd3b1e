// The CPU forward pass on weights streamed through packs under budgets that are a
// fraction of the model computes the same function as with every weight readable:
// same logits as FileWeightProvider, within the reference tolerances, same greedy text;
// and a generated model several times larger than the RAM budget runs with peak pack
// bytes and RSS growth under the budget (+ the stated fixed overhead).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "memory/MemoryStats.h"
#include "model/LoadedModel.h"
#include "packs/PackWeightProvider.h"
#include "model/ModelGenerator.h"
#include "support/CpuLogits.h"
#include "support/ReferenceCase.h"
#include "support/Sanitizers.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// llama.cpp's reference used an f16 KV cache: compare with the same attention precision.
constexpr KvPrecision kRefKv = KvPrecision::F16Rounded;

// A pack provider whose RAM budget is the minimum it accepts + `extra` bytes.
std::unique_ptr<PackWeightProvider> tiny_pack_provider(const Path& model, uint32 n_ctx, uint32 n_batch, uint64 max_pack = 4096, uint64 extra = 0) {
    PackOptions o;
    o.max_pack_bytes = max_pack;
    o.embedding_cache_rows = 16;
    auto g = open_model_source(model);
    EXPECT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg);
    o.activation_kv_bytes = estimate_activation_kv_bytes(*cfg, n_ctx, n_batch);
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min);
    o.ram_budget_bytes = *min + extra;
    auto p = PackWeightProvider::open(model, o);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
}

class PackForward : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(PackForward, LogitsEqualFileProviderAndReference) {
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Path model = test::models_dir() / ref->model;
    auto fw = FileWeightProvider::open(model);
    ASSERT_TRUE(fw) << fw.error().to_string();
    const uint32 n = uint32(ref->prompt_tokens.size());
    auto pw = tiny_pack_provider(model, n, n);
    ASSERT_TRUE(pw);
    EXPECT_LT(pw->manager().pack_budget_bytes() * 2, pw->registry().total_bytes()) << "pack budget should be a fraction of the model";

    auto want = test::cpu_prompt_logits(**fw, ref->prompt_tokens);
    auto got = test::cpu_prompt_logits(*pw, ref->prompt_tokens);
    // Each output row is computed from whole rows of weights however they are sliced.
    EXPECT_EQ(got, want) << "packs changed the computed function";
    const double tol = ref->tolerance();
    for (size_t p = 0; p < n; ++p) EXPECT_LT(test::nmse(got.data() + p * ref->n_vocab, ref->logits_at(p), ref->n_vocab), tol) << "position " << p;
    auto s = pw->manager().get_ram_stats();
    EXPECT_LE(s.peak_bytes, pw->manager().pack_budget_bytes());
    EXPECT_GT(s.evictions, 0u);
    std::printf("[ %s ] packs: %zu, pack budget %llu bytes, peak %llu, read %llu bytes, %llu evictions, %.2f GB/s\n", GetParam().c_str(),
                pw->manager().pack_count(), (unsigned long long)pw->manager().pack_budget_bytes(), (unsigned long long)s.peak_bytes,
                (unsigned long long)s.bytes_loaded, (unsigned long long)s.evictions, s.gbps());
}

INSTANTIATE_TEST_SUITE_P(Reference, PackForward, ::testing::ValuesIn(test::list_reference_cases()),
                         test::CaseName{});

// Greedy continuation (prompt as one batch, then token by token with the KV cache).
std::vector<uint32> greedy(WeightProvider& w, const test::ReferenceCase& ref) {
    const uint32 n = uint32(ref.prompt_tokens.size()), n_gen = uint32(ref.greedy_tokens.size());
    CpuBackend be(2, cpu::KernelPath::Auto, kRefKv);
    EXPECT_TRUE(be.prepare(w, n + n_gen, n));
    std::vector<float> logits(ref.n_vocab);
    ForwardRequest req{ref.prompt_tokens.data(), n, 0, false, logits.data()};
    auto f = be.forward(req);
    EXPECT_TRUE(f) << f.error().to_string();
    std::vector<uint32> out;
    for (uint32 i = 0; f && i < n_gen; ++i) {
        uint32 tok = uint32(test::argmax(logits.data(), ref.n_vocab));
        out.push_back(tok);
        if (i + 1 == n_gen) break;
        ForwardRequest step{&tok, 1, n + i, false, logits.data()};
        f = be.forward(step);
        EXPECT_TRUE(f) << f.error().to_string();
    }
    return out;
}

TEST(PackForwardGreedy, Stories260KGreedyTokensUnchangedUnderTinyBudget) {
    auto ref = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(ref) << ref.error().to_string();
    ASSERT_FALSE(ref->greedy_tokens.empty());
    const Path model = test::models_dir() / ref->model;
    const uint32 n = uint32(ref->prompt_tokens.size()), n_gen = uint32(ref->greedy_tokens.size());
    // 16 KiB packs and a budget of the minimum + a quarter of the model: every token
    // still streams most packs, at a test-friendly number of reads.
    auto pw = tiny_pack_provider(model, n + n_gen, n, 16384, 300000);
    ASSERT_TRUE(pw);
    EXPECT_LT(pw->manager().pack_budget_bytes() * 2, pw->registry().total_bytes());
    auto fw = FileWeightProvider::open(model);
    ASSERT_TRUE(fw);
    auto got = greedy(*pw, *ref);
    EXPECT_EQ(got, greedy(**fw, *ref));
    EXPECT_EQ(got, ref->greedy_tokens);
    EXPECT_GT(pw->manager().get_ram_stats().evictions, 0u);
}

// ~200 MB generated model, 40 MB RAM budget: peak pack bytes <= pack budget and the
// RSS growth of the run <= budget + PackWeightProvider::kFixedOverheadBytes.
TEST(PackBudget, GeneratedModelFiveTimesTheBudgetStaysUnderIt) {
    ModelShape shape;
    shape.name = "budget-test";
    shape.n_vocab = 4096;
    shape.n_embd = 512;
    shape.n_layer = 14;
    shape.n_head = 8;
    shape.n_head_kv = 4;
    shape.n_ff = 1536;
    shape.n_ctx = 64;
    const uint64 budget = uint64(40) << 20;
    ASSERT_GT(generated_model_bytes(shape, DType::F32), 4 * budget);
    auto path = generate_model(shape, DType::F32, test::tmp_dir() / "budget-200mb.gguf", 7);
    ASSERT_TRUE(path) << path.error().to_string();

    const uint32 n_ctx = 8, n_batch = 4;
    PackOptions o;
    o.ram_budget_bytes = budget;
    o.max_pack_bytes = uint64(4) << 20;
    o.activation_kv_bytes = estimate_activation_kv_bytes(model_config_for_shape(shape), n_ctx, n_batch);
    ASSERT_TRUE(reset_peak_rss());
    auto before = read_process_memory();
    ASSERT_TRUE(before);
    {
        auto pw = PackWeightProvider::open(*path, o);
        ASSERT_TRUE(pw) << pw.error().to_string();
        CpuBackend be(2);
        ASSERT_TRUE(be.prepare(**pw, n_ctx, n_batch));
        std::vector<uint32> prompt = {1, 300, 301, 302};
        std::vector<float> logits(shape.n_vocab);
        ForwardRequest req{prompt.data(), uint32(prompt.size()), 0, false, logits.data()};
        auto f = be.forward(req);
        ASSERT_TRUE(f) << f.error().to_string();
        for (uint32 i = 0; i < 2; ++i) {
            uint32 tok = uint32(test::argmax(logits.data(), shape.n_vocab));
            ForwardRequest step{&tok, 1, uint32(prompt.size()) + i, false, logits.data()};
            f = be.forward(step);
            ASSERT_TRUE(f) << f.error().to_string();
        }
        for (float x : logits) ASSERT_TRUE(std::isfinite(x));
        auto s = (*pw)->manager().get_ram_stats();
        EXPECT_LE(s.peak_bytes, (*pw)->manager().pack_budget_bytes());
        EXPECT_GT(s.bytes_loaded, 2 * generated_model_bytes(shape, DType::F32)) << "three passes should stream the weights";
        auto after = read_process_memory();
        ASSERT_TRUE(after);
        const uint64 growth = after->peak_rss_bytes > before->rss_bytes ? after->peak_rss_bytes - before->rss_bytes : 0;
        std::printf("[ budget ] model %.1f MB, budget %.1f MB, pack peak %.1f MB, RSS growth %.1f MB (limit %.1f MB), read %.1f MB at %.2f GB/s\n",
                    generated_model_bytes(shape, DType::F32) / 1e6, budget / 1e6, s.peak_bytes / 1e6, growth / 1e6,
                    (budget + PackWeightProvider::kFixedOverheadBytes) / 1e6, s.bytes_loaded / 1e6, s.gbps());
        if (!test::kAddressSanitizer) {  // ASan's shadow memory and quarantine are RSS too
            EXPECT_LE(growth, budget + PackWeightProvider::kFixedOverheadBytes);
        }
    }
    std::filesystem::remove(*path);
}
