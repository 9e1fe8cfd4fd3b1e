// CpuBackend::forward_batch: the chunks of several sequences in one pass (one pass over the
// weights) give each sequence the logits it gets alone, for every reference case the engine runs,
// with weights resident in RAM and streamed through packs under a tiny budget; the chunks'
// K / V live in paged blocks of the backend's pool, and bad chunks are refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/KvLayout.h"
#include "model/LoadedModel.h"
#include "packs/PackWeightProvider.h"
#include "support/BatchLogits.h"
#include "support/CpuLogits.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr KvPrecision kRefKv = KvPrecision::F16Rounded;

// All-position logits of every sequence computed together (test::batched_logits) on a CPU
// backend with a pool for all of them.
std::vector<std::vector<float>> together(WeightProvider& w, const std::vector<std::vector<uint32>>& seqs, uint32 step) {
    uint32 n_ctx = 0;
    for (const auto& s : seqs) n_ctx = std::max(n_ctx, uint32(s.size()));
    CpuBackend be(2, cpu::KernelPath::Auto, kRefKv);
    be.set_kv_pool_tokens(uint64(seqs.size()) * (n_ctx + kKvBlockPositions));
    EXPECT_TRUE(be.prepare(w, n_ctx, 64));
    auto out = test::batched_logits(be, seqs, step, w.config().n_vocab);
    EXPECT_EQ(be.kv_pool()->used_blocks(), 0u);
    return out;
}

void expect_same_function(WeightProvider& w, const test::ReferenceCase& r, uint32 step) {
    const uint32 V = r.n_vocab;
    const double tol = r.tolerance();
    const auto seqs = test::mixed_sequences(r.prompt_tokens);
    const auto batched = together(w, seqs, step);
    double worst = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
        const auto want = test::cpu_prompt_logits(w, seqs[s], 64);  // alone, through forward() (the backend's own sequence)
        for (size_t p = 0; p < seqs[s].size(); ++p) {
            const double e = test::nmse(batched[s].data() + p * V, want.data() + p * V, V);
            worst = std::max(worst, e);
            EXPECT_LT(e, tol) << r.name << " sequence " << s << " position " << p;
            EXPECT_EQ(test::argmax(batched[s].data() + p * V, V), test::argmax(want.data() + p * V, V)) << r.name << " sequence " << s << " position " << p;
        }
    }
    std::printf("[ %s ] step %u: worst NMSE batched vs alone %.3g\n", r.name.c_str(), step, worst);
}

class CpuBatch : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CpuBatch, EachSequenceGetsItsLogitsAloneWithResidentWeights) {
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    expect_same_function(**w, *r, 1);  // decode-sized passes: one token per sequence
    expect_same_function(**w, *r, 5);  // prompt chunks of mixed lengths
}

TEST_P(CpuBatch, EachSequenceGetsItsLogitsAloneFromPacksUnderATinyBudget) {
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    const Path model = test::models_dir() / r->model;
    PackOptions o;
    o.max_pack_bytes = 4096;
    o.embedding_cache_rows = 16;
    auto g = LoadedModel::open(model);
    ASSERT_TRUE(g) << g.error().to_string();
    const uint32 n_ctx = uint32(r->prompt_tokens.size());
    o.activation_kv_bytes = estimate_activation_kv_bytes((*g)->config(), n_ctx, 64, 3 * (n_ctx + kKvBlockPositions));
    auto min = PackWeightProvider::minimum_ram_budget(**g, o);
    ASSERT_TRUE(min) << min.error().to_string();
    o.ram_budget_bytes = *min;
    auto p = PackWeightProvider::open(*g, o);
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_LT((*p)->manager().pack_budget_bytes() * 2, (*p)->registry().total_bytes()) << "the packs must stream";
    expect_same_function(**p, *r, 3);
}

// One sequence alone in the batched scheduler: its prompt as one chunk, then one-row batched
// passes, give the serial decode's logits (forward() one token at a time on a backend of its
// own) bit for bit: a one-row pass runs the serial step's kernels over the same paged rows.
TEST_P(CpuBatch, OneRowStepsGiveTheSerialDecodeLogitsBitForBit) {
    auto r = test::load_reference_case(GetParam());
    ASSERT_TRUE(r) << r.error().to_string();
    if (r->prompt_tokens.size() > 64 || r->prompt_tokens.size() < 3) GTEST_SKIP() << "the short prompts take every code path";
    auto w = FileWeightProvider::open(test::models_dir() / r->model);
    ASSERT_TRUE(w) << w.error().to_string();
    const std::vector<uint32>& toks = r->prompt_tokens;
    const uint32 n = uint32(toks.size()), first = n / 2, V = r->n_vocab;
    CpuBackend serial(2, cpu::KernelPath::Auto, kRefKv), batched(2, cpu::KernelPath::Auto, kRefKv);
    batched.set_kv_pool_tokens(n + kKvBlockPositions);
    ASSERT_TRUE(serial.prepare(**w, n, 64));
    ASSERT_TRUE(batched.prepare(**w, n, 64));
    std::vector<float> want(V), got(V);
    ASSERT_TRUE(serial.forward({toks.data(), first, 0, false, want.data()}));
    KvBlockPool& pool = *batched.kv_pool();
    KvBlockTable kv;
    ASSERT_TRUE(pool.prepare_write(kv, 0, first));
    ASSERT_TRUE(batched.forward_batch({SeqChunk{&kv, toks.data(), first, 0, false, got.data()}}));
    for (uint32 p = first; p < n; ++p) {
        ASSERT_TRUE(serial.forward({toks.data() + p, 1, p, false, want.data()}));
        ASSERT_TRUE(pool.prepare_write(kv, p, p + 1));
        ASSERT_TRUE(batched.forward_batch({SeqChunk{&kv, toks.data() + p, 1, p, false, got.data()}}));
        EXPECT_EQ(std::memcmp(got.data(), want.data(), size_t(V) * 4), 0) << r->name << " position " << p;
        EXPECT_LT(test::nmse(got.data(), r->logits_at(p), V), r->tolerance()) << r->name << " position " << p << " against the reference";
    }
    pool.release(kv);
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuBatch, ::testing::ValuesIn(test::list_reference_cases()),
                         test::CaseName{});

TEST(CpuBatch, BadChunksAreRefusedByName) {
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    CpuBackend be(1);
    ASSERT_TRUE(be.prepare(**w, 32, 4));
    test::expect_bad_chunks_refused(be, "out of range");
}
