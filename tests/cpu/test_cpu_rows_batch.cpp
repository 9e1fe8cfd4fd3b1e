// CpuBackend's batched parts of the hybrid rows split (qkv_rows, ffn_rows, project_rows,
// output_rows_part): for n rows at once they give what the single-token parts give row by
// row, the CPU share of Q / K / V matches the backend's own forward (its f16-rounded K / V
// land in the cache), and bad shapes are refused by name.
#include <gtest/gtest.h>

#include <random>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

constexpr uint32 kRows = 5;

struct Rig {
    std::unique_ptr<FileWeightProvider> w;
    std::unique_ptr<CpuBackend> be;
    ModelConfig cfg;
    std::vector<float> x;  // (kRows, n_embd) random inputs
    Rig() {
        auto f = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return;
        w = std::move(*f);
        cfg = w->config();
        be = std::make_unique<CpuBackend>(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        EXPECT_TRUE(be->prepare(*w, 64, kRows));
        std::mt19937 rng(7);
        std::normal_distribution<float> d(0.0f, 1.0f);
        x.resize(uint64(kRows) * cfg.n_embd);
        for (float& v : x) v = d(rng);
    }
};

void expect_near_all(const float* a, const float* b, uint64 n, const std::string& what) {
    for (uint64 i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 1e-4f * (1.0f + std::fabs(b[i]))) << what << " element " << i;
}

}  // namespace

TEST(CpuRowsBatch, FfnProjectAndOutputRowsEqualTheSingleTokenPartsRowByRow) {
    Rig r;
    ASSERT_TRUE(r.be);
    const uint32 E = r.cfg.n_embd, units = r.cfg.n_ff / 2, rows = E / 4, vrows = r.cfg.n_vocab / 3;
    std::vector<float> h(uint64(kRows) * units), y(uint64(kRows) * rows), l(uint64(kRows) * vrows), one(std::max({units, rows, vrows}));
    ASSERT_TRUE(r.be->ffn_rows(1, r.x.data(), kRows, units, h.data()));
    ASSERT_TRUE(r.be->project_rows({TensorRole::Wo, 1}, rows, r.x.data(), kRows, y.data()));
    ASSERT_TRUE(r.be->output_rows_part(r.x.data(), kRows, vrows, l.data()));
    for (uint32 t = 0; t < kRows; ++t) {
        const float* xt = r.x.data() + uint64(t) * E;
        ASSERT_TRUE(r.be->ffn_part(1, xt, units, one.data()));
        expect_near_all(h.data() + uint64(t) * units, one.data(), units, "ffn row " + std::to_string(t));
        ASSERT_TRUE(r.be->project_part({TensorRole::Wo, 1}, rows, xt, one.data(), false));
        expect_near_all(y.data() + uint64(t) * rows, one.data(), rows, "wo row " + std::to_string(t));
        ASSERT_TRUE(r.be->output_part(xt, vrows, one.data()));
        expect_near_all(l.data() + uint64(t) * vrows, one.data(), vrows, "logits row " + std::to_string(t));
    }
}

// The K / V rows qkv_rows computes for a row at position p are those attention_part stores
// in the own cache at p (same norm, projections, rope, f16 rounding).
TEST(CpuRowsBatch, QkvRowsAreTheKvRowsTheSingleTokenPartStores) {
    Rig r;
    ASSERT_TRUE(r.be);
    const uint32 heads = 2, hd = r.cfg.head_dim, group = r.cfg.n_head / r.cfg.n_head_kv;
    const uint32 kc = heads * hd, qc = kc * group;
    const std::vector<uint32> pos{0, 1, 2, 3, 4};
    std::vector<float> q(uint64(kRows) * qc), k(uint64(kRows) * kc), v(uint64(kRows) * kc), att(r.cfg.q_dim());
    ASSERT_TRUE(r.be->qkv_rows(0, r.x.data(), kRows, pos.data(), heads, q.data(), k.data(), v.data()));
    for (uint32 t = 0; t < kRows; ++t) {
        ASSERT_TRUE(r.be->attention_part(0, r.x.data() + uint64(t) * r.cfg.n_embd, pos[t], heads, att.data()));
        expect_near_all(k.data() + uint64(t) * kc, r.be->kv_row(0, false, pos[t]), kc, "K row " + std::to_string(t));
        expect_near_all(v.data() + uint64(t) * kc, r.be->kv_row(0, true, pos[t]), kc, "V row " + std::to_string(t));
    }
}

TEST(CpuRowsBatch, BadShapesAreRefusedByName) {
    Rig r;
    ASSERT_TRUE(r.be);
    std::vector<float> big(uint64(kRows + 1) * (r.cfg.n_vocab + r.cfg.n_ff + r.cfg.q_dim()));
    const std::vector<uint32> pos(kRows + 1, 0);
    auto refused = [](ExpectedVoid e, const char* what) {
        ASSERT_FALSE(e) << what;
        EXPECT_NE(e.error().message.find(what), std::string::npos) << e.error().message;
    };
    refused(r.be->qkv_rows(0, big.data(), kRows + 1, pos.data(), 1, big.data(), big.data(), big.data()), "n_batch");
    refused(r.be->qkv_rows(0, big.data(), 1, pos.data(), r.cfg.n_head_kv + 1, big.data(), big.data(), big.data()), "KV heads");
    refused(r.be->qkv_rows(r.cfg.n_layer, big.data(), 1, pos.data(), 1, big.data(), big.data(), big.data()), "out of range");
    refused(r.be->ffn_rows(0, big.data(), 1, r.cfg.n_ff + 1, big.data()), "units");
    refused(r.be->project_rows({TensorRole::Wo, 0}, r.cfg.n_embd + 1, big.data(), 1, big.data()), "project_rows");
    refused(r.be->output_rows_part(big.data(), kRows + 1, 1, big.data()), "output_rows_part");
}
