// The 512-bit panel product (CpuGemmPanels) where its own structure could go wrong: rows wider
// than one panel chunk (2048 columns: partial sums carried across chunks, a lone 8-block alone
// in the last chunk), x packed in parts on a pool against one pack, and partial panels / token
// tiles: bitwise against the one-token matvec and the 256-bit blocked product.
#include <gtest/gtest.h>

#include <random>

#include "backend/cpu/CpuGemm.h"
#include "backend/cpu/CpuGemmPanels.h"

using namespace vk_symbiote;
using namespace vk_symbiote::cpu;

namespace {

struct Shape {
    DType dt;
    uint64 rows, cols;
    uint32 n_tok;
};

std::string name(const Shape& s) {
    return std::string(dtype_name(s.dt)) + " rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) + " n_tok=" + std::to_string(s.n_tok);
}

// Random weights (raw, in the shape's dtype) and x of n_tok rows of cols + 3 floats.
struct Operands {
    std::vector<uint16> w16;
    std::vector<float> w32, x;
    const void* w(DType dt) const { return dt == DType::F32 ? static_cast<const void*>(w32.data()) : w16.data(); }
};

Operands make(const Shape& s, uint32 seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    Operands o;
    for (uint64 i = 0; i < s.rows * s.cols; ++i) {
        const float f = 0.3f * d(g);
        o.w32.push_back(f);
        o.w16.push_back(s.dt == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f));
    }
    o.x.resize(uint64(s.n_tok) * (s.cols + 3));
    for (float& f : o.x) f = d(g);
    return o;
}

MatmulArgs args(const Shape& s, const Operands& o, std::vector<float>& y, uint32 n_tok, uint64 x_off) {
    return MatmulArgs{o.w(s.dt), s.dt, s.rows, s.cols, o.x.data() + x_off, s.cols + 3, n_tok, y.data(), s.rows, 0};
}

}  // namespace

TEST(CpuGemmPanels, WideRowsMatchTheMatvecAndTheBlockedProductBitwise) {
    if (!panels_available()) GTEST_SKIP() << "no AVX-512F on this CPU";
    const Shape shapes[] = {{DType::F16, 33, 2056, 13},   // 128 pair steps, then the lone 8-block alone in a second chunk
                            {DType::BF16, 40, 4100, 25},  // two full chunks and a 4-column tail
                            {DType::F32, 7, 2072, 12}};   // chunk boundary inside a row; one full token tile
    uint32 seed = 5;
    for (const Shape& s : shapes) {
        const Operands o = make(s, seed++);
        std::vector<float> panels(uint64(s.n_tok) * s.rows), blocked(panels.size());
        gemm_rows(args(s, o, panels, s.n_tok, 0), 0, s.rows, true);
        gemm_rows(args(s, o, blocked, s.n_tok, 0), 0, s.rows, false);
        ASSERT_EQ(panels, blocked) << name(s);
        for (uint32 t = 0; t < s.n_tok; ++t) {
            std::vector<float> one(s.rows);
            matmul(args(s, o, one, 1, uint64(t) * (s.cols + 3)), nullptr, KernelPath::Avx2);
            for (uint64 r = 0; r < s.rows; ++r) ASSERT_EQ(panels[t * s.rows + r], one[r]) << name(s) << " t=" << t << " r=" << r;
        }
    }
}

TEST(CpuGemmPanels, PackingInPartsOnAPoolGivesOnePacksBits) {
    if (!panels_available()) GTEST_SKIP() << "no AVX-512F on this CPU";
    const Shape s{DType::F16, 70, 520, 50};  // 4 full token tiles and one of 2
    const Operands o = make(s, 11);
    std::vector<float> whole(uint64(s.n_tok) * s.rows), parts(whole.size());
    const MatmulArgs a = args(s, o, whole, s.n_tok, 0);
    PanelX one, split;
    panels_pack_x(a, one);
    panels_prepare_x(a, split);
    ThreadPool pool(3);
    pool.parallel_for(s.n_tok, kPanelTokens, [&](uint64 t0, uint64 t1, uint32) { panels_pack_x_tokens(a, split, uint32(t0), uint32(t1)); });
    ASSERT_EQ(one.steps, split.steps);
    panels_rows(a, one, 0, s.rows);
    const MatmulArgs b = args(s, o, parts, s.n_tok, 0);
    panels_rows(b, split, 0, 30);  // two calls, the first ending inside a panel
    panels_rows(b, split, 30, s.rows);
    EXPECT_EQ(whole, parts);
    // Through matmul() on the pool (the packing split as above): the same bits again.
    std::vector<float> pooled(whole.size());
    matmul(args(s, o, pooled, s.n_tok, 0), &pool, KernelPath::Avx2);
    EXPECT_EQ(pooled, whole);
}
