// The blocked batched product (CpuGemm) against a double-precision naive product at shapes that
// are not multiples of its blocks (rows of 4 / 16, tokens of 3 / 4 / 64, columns of 8 / 16 / 256),
// and bitwise against the one-token matvec of each token (the summation order it promises), with
// 256- and 512-bit registers, through matmul() on a pool and alone.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/CpuGemm.h"

using namespace vk_symbiote;
using namespace vk_symbiote::cpu;

namespace {

// A shape: weights (rows, cols) of a dtype, n_tok tokens; x and y with strides wider than their rows.
struct Case {
    DType dt;
    uint64 rows, cols;
    uint32 n_tok;
    uint64 xs() const { return cols + 5; }
    uint64 ys() const { return rows + 3; }
};

struct Data {
    std::vector<uint8> raw;     // (rows, cols) weights in the case's dtype
    std::vector<float> exact;   // the same weights as f32
    std::vector<float> x;       // (n_tok, xs)
};

Data make_data(const Case& c, uint32 seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    Data v;
    v.exact.resize(c.rows * c.cols);
    v.raw.resize(v.exact.size() * dtype_size(c.dt));
    for (size_t i = 0; i < v.exact.size(); ++i) {
        const float f = 0.5f * d(g);
        if (c.dt == DType::F32) {
            v.exact[i] = f;
            std::memcpy(v.raw.data() + 4 * i, &f, 4);
            continue;
        }
        const uint16 h = c.dt == DType::F16 ? f32_to_f16(f) : f32_to_bf16(f);
        v.exact[i] = c.dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        std::memcpy(v.raw.data() + 2 * i, &h, 2);
    }
    v.x.resize(c.n_tok * c.xs());
    for (auto& f : v.x) f = d(g);
    return v;
}

std::string name(const Case& c) {
    return std::string(dtype_name(c.dt)) + " rows=" + std::to_string(c.rows) + " cols=" + std::to_string(c.cols) + " n_tok=" + std::to_string(c.n_tok);
}

// y (n_tok, ys) from gemm_rows over all rows; columns past rows keep their fill value.
std::vector<float> run_gemm(const Case& c, const Data& v, bool wide) {
    std::vector<float> y(c.n_tok * c.ys(), 12345.0f);
    MatmulArgs a{v.raw.data(), c.dt, c.rows, c.cols, v.x.data(), c.xs(), c.n_tok, y.data(), c.ys()};
    gemm_rows(a, 0, c.rows, wide);
    return y;
}

// Within the f32 accumulation bound of a double-precision naive product; nothing past rows written.
void expect_near_naive(const Case& c, const Data& v, const std::vector<float>& y) {
    for (uint32 t = 0; t < c.n_tok; ++t) {
        for (uint64 r = 0; r < c.rows; ++r) {
            double s = 0.0, m = 0.0;
            for (uint64 k = 0; k < c.cols; ++k) {
                const double p = double(v.exact[r * c.cols + k]) * double(v.x[t * c.xs() + k]);
                s += p;
                m += std::fabs(p);
            }
            ASSERT_NEAR(y[t * c.ys() + r], s, 1e-6 * double(c.cols) * m + 1e-30) << name(c) << " t=" << t << " r=" << r;
        }
        for (uint64 r = c.rows; r < c.ys(); ++r) ASSERT_EQ(y[t * c.ys() + r], 12345.0f) << name(c) << ": wrote past rows";
    }
}

// Each token's row of y equals the one-token matvec of that token, bit for bit.
void expect_matvec_bits(const Case& c, const Data& v, const std::vector<float>& y) {
    for (uint32 t = 0; t < c.n_tok; ++t) {
        std::vector<float> one(c.rows);
        MatmulArgs a{v.raw.data(), c.dt, c.rows, c.cols, v.x.data() + t * c.xs(), c.xs(), 1, one.data(), c.rows};
        matmul(a, nullptr, KernelPath::Avx2);
        for (uint64 r = 0; r < c.rows; ++r) ASSERT_EQ(y[t * c.ys() + r], one[r]) << name(c) << " t=" << t << " r=" << r;
    }
}

std::vector<Case> awkward_cases() {
    std::vector<Case> cs;
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
        for (uint64 cols : {3, 8, 15, 16, 24, 263, 520})  // no full 8-block; one; two; a lone last 8-block; past 256 and 512
            for (uint64 rows : {1, 6, 17, 35})            // a partial 4-row group and 16-row block
                for (uint32 n_tok : {8u, 11u, 66u})        // partial 3- / 4-token tiles and a second 64-token chunk
                    cs.push_back({dt, rows, cols, n_tok});
    return cs;
}

}  // namespace

TEST(CpuGemm, AwkwardShapesMatchNaiveAndTheMatvecBitwise) {
    if (!gemm_available()) GTEST_SKIP() << "no AVX2 / FMA / F16C on this CPU";
    uint32 seed = 1;
    for (const Case& c : awkward_cases()) {
        const Data v = make_data(c, seed++);
        const std::vector<float> narrow = run_gemm(c, v, false);
        expect_near_naive(c, v, narrow);
        expect_matvec_bits(c, v, narrow);
        if (gemm_has_avx512()) {
            ASSERT_EQ(run_gemm(c, v, true), narrow) << name(c) << ": 512-bit registers differ from 256-bit";
        }
        if (HasFatalFailure()) return;
    }
}

// A row range alone writes only its columns of y, with the values the whole product gives them.
TEST(CpuGemm, RowRangesGiveTheWholeProductsBits) {
    if (!gemm_available()) GTEST_SKIP() << "no AVX2 / FMA / F16C on this CPU";
    const Case c{DType::F16, 45, 300, 13};
    const Data v = make_data(c, 99);
    const std::vector<float> whole = run_gemm(c, v, true);
    std::vector<float> parts(c.n_tok * c.ys(), 12345.0f);
    MatmulArgs a{v.raw.data(), c.dt, c.rows, c.cols, v.x.data(), c.xs(), c.n_tok, parts.data(), c.ys()};
    const std::pair<uint64, uint64> ranges[] = {{0, 7}, {7, 23}, {23, 24}, {24, 40}, {40, 45}};  // not on 4- or 16-row bounds
    for (auto [r0, r1] : ranges) gemm_rows(a, r0, r1, true);
    EXPECT_EQ(parts, whole);
}

// matmul() takes the blocked product for batches: on a pool (rows split over threads) and alone,
// every token of a 70-token batch gets its one-token matvec's bits, within the naive bound.
TEST(CpuGemm, MatmulBatchesUseItOnAPoolAndAlone) {
    if (!gemm_available()) GTEST_SKIP() << "no AVX2 / FMA / F16C on this CPU";
    ThreadPool pool(3);
    for (DType dt : {DType::F16, DType::BF16, DType::F32}) {
        const Case c{dt, 301, 1030, 70};
        const Data v = make_data(c, 7);
        for (ThreadPool* p : {&pool, static_cast<ThreadPool*>(nullptr)}) {
            std::vector<float> y(c.n_tok * c.ys(), 12345.0f);
            MatmulArgs a{v.raw.data(), c.dt, c.rows, c.cols, v.x.data(), c.xs(), c.n_tok, y.data(), c.ys()};
            matmul(a, p, KernelPath::Auto);
            expect_near_naive(c, v, y);
            expect_matvec_bits(c, v, y);
        }
    }
}
