// CPU kernels: the AVX2 path against the scalar path and both against double-precision
// references, over odd and remainder sizes and every weight dtype; conversions including
// NaN / Inf / subnormals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/CpuKernels.h"

using namespace vk_symbiote;
using namespace vk_symbiote::cpu;

namespace {

std::vector<KernelPath> paths() {
    std::vector<KernelPath> p{KernelPath::Scalar};
    if (cpu_has_avx2()) p.push_back(KernelPath::Avx2);
    return p;
}

float bits_f(uint32 u) { float f; std::memcpy(&f, &u, 4); return f; }
uint32 f_bits(float f) { uint32 u; std::memcpy(&u, &f, 4); return u; }

std::vector<float> randn(size_t n, uint32 seed, float sd = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

// Weights of `dtype` as raw bytes plus the exact f32 values they represent.
struct Weights {
    std::vector<uint8> raw;
    std::vector<float> exact;
};
Weights make_weights(DType dt, size_t n, uint32 seed) {
    Weights w;
    w.exact = randn(n, seed, 0.5f);
    w.raw.resize(n * dtype_size(dt));
    for (size_t i = 0; i < n; ++i) {
        if (dt == DType::F32) {
            std::memcpy(w.raw.data() + 4 * i, &w.exact[i], 4);
            continue;
        }
        uint16 h = dt == DType::F16 ? f32_to_f16(w.exact[i]) : f32_to_bf16(w.exact[i]);
        w.exact[i] = dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        std::memcpy(w.raw.data() + 2 * i, &h, 2);
    }
    return w;
}

// ---- conversions ------------------------------------------------------------------------

TEST(CpuConvert, F16SpecialValues) {
    EXPECT_EQ(f16_to_f32(0x0000), 0.0f);
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
    EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
    EXPECT_EQ(f16_to_f32(0x7c00), INFINITY);
    EXPECT_EQ(f16_to_f32(0xfc00), -INFINITY);
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));

    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds up to Inf
    EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
    EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);  // below half the smallest subnormal
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
    uint16 n = f32_to_f16(NAN);
    EXPECT_EQ(n & 0x7c00, 0x7c00);
    EXPECT_NE(n & 0x03ff, 0);
}

TEST(CpuConvert, F16RoundTripsEveryHalf) {
    for (uint32 h = 0; h < 65536; ++h) {
        float f = f16_to_f32(uint16(h));
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    }
}

TEST(CpuConvert, Bf16SpecialValues) {
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(bf16_to_f32(0x7f80), INFINITY);
    EXPECT_EQ(bf16_to_f32(0xff80), -INFINITY);
    EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
    EXPECT_EQ(bf16_to_f32(0x0001), bits_f(0x00010000u));  // subnormal kept, not flushed
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(bits_f(0x3f808000u)), 0x3f80);  // tie -> even (down)
    EXPECT_EQ(f32_to_bf16(bits_f(0x3f818000u)), 0x3f82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(bits_f(0x3f808001u)), 0x3f81);
    EXPECT_EQ(f32_to_bf16(bits_f(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to Inf
    EXPECT_EQ(f32_to_bf16(bits_f(0x00008000u)), 0x0000);  // subnormal tie -> even
    uint16 n = f32_to_bf16(bits_f(0x7f800001u));           // signalling NaN with low payload
    EXPECT_TRUE(std::isnan(bf16_to_f32(n)));
    for (uint32 b = 0; b < 65536; ++b) {
        float f = bf16_to_f32(uint16(b));
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_bf16(f), b);
    }
}

TEST(CpuConvert, RowConversionPathsAgreeBitwise) {
    // Every half / bfloat16 bit pattern, at odd lengths and offsets (remainder lanes).
    std::vector<uint16> all(65536);
    for (uint32 i = 0; i < 65536; ++i) all[i] = uint16(i);
    for (DType dt : {DType::F16, DType::BF16}) {
        for (size_t n : {size_t(1), size_t(7), size_t(9), size_t(65535)}) {
            std::vector<float> want(n);
            for (size_t i = 0; i < n; ++i) want[i] = dt == DType::F16 ? f16_to_f32(all[i + 1]) : bf16_to_f32(all[i + 1]);
            for (KernelPath p : paths()) {
                std::vector<float> got(n, -7.0f);
                convert_to_f32(dt, all.data() + 1, got.data(), n, p);
                for (size_t i = 0; i < n; ++i) {
                    if (std::isnan(want[i])) ASSERT_TRUE(std::isnan(got[i])) << i;
                    else ASSERT_EQ(f_bits(got[i]), f_bits(want[i])) << dtype_name(dt) << " " << kernel_path_name(p) << " i=" << i;
                }
            }
        }
    }
}

// ---- matmul -------------------------------------------------------------------------------

// |y - ref| <= tol * sum_c |w x| (plus a tiny absolute floor): f32 accumulation error bound.
void check_matmul(DType dt, uint64 rows, uint64 cols, uint32 n_tok, ThreadPool* pool) {
    Weights w = make_weights(dt, rows * cols, uint32(rows * 131 + cols * 7 + n_tok));
    const uint64 xs = cols + 3, ys = rows + 5;  // strides wider than the rows
    std::vector<float> x = randn(n_tok * xs, uint32(cols + n_tok));
    std::vector<float> ref(n_tok * ys), mag(n_tok * ys);
    for (uint32 t = 0; t < n_tok; ++t)
        for (uint64 r = 0; r < rows; ++r) {
            double s = 0.0, m = 0.0;
            for (uint64 c = 0; c < cols; ++c) {
                s += double(w.exact[r * cols + c]) * double(x[t * xs + c]);
                m += std::fabs(double(w.exact[r * cols + c]) * double(x[t * xs + c]));
            }
            ref[t * ys + r] = float(s);
            mag[t * ys + r] = float(m);
        }
    std::vector<std::vector<float>> outs;
    for (KernelPath p : paths()) {
        std::vector<float> y(n_tok * ys, 12345.0f);
        MatmulArgs a{w.raw.data(), dt, rows, cols, x.data(), xs, n_tok, y.data(), ys};
        matmul(a, pool, p);
        for (uint32 t = 0; t < n_tok; ++t) {
            for (uint64 r = 0; r < rows; ++r)
                ASSERT_NEAR(y[t * ys + r], ref[t * ys + r], 2e-6f * float(cols) * mag[t * ys + r] / std::sqrt(float(cols)) + 1e-30f + 1e-6f * mag[t * ys + r])
                    << dtype_name(dt) << " " << kernel_path_name(p) << " rows=" << rows << " cols=" << cols << " n_tok=" << n_tok << " t=" << t << " r=" << r;
            for (uint64 r = rows; r < ys; ++r) ASSERT_EQ(y[t * ys + r], 12345.0f) << "wrote past rows";
        }
        outs.push_back(y);
    }
    // Scalar vs AVX2: same math, different summation order.
    for (size_t i = 1; i < outs.size(); ++i)
        for (size_t k = 0; k < outs[0].size(); ++k) ASSERT_NEAR(outs[i][k], outs[0][k], 1e-5f * (mag[k] + 1e-30f) + 1e-30f) << "paths differ at " << k;
}

TEST(CpuMatmul, OddShapesEveryDtypeSingleThread) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
        for (uint64 cols : {1, 7, 8, 31, 33, 64, 257})
            for (uint64 rows : {1, 2, 5, 17})
                for (uint32 n_tok : {1u, 2u, 3u, 5u, 8u, 15u}) check_matmul(dt, rows, cols, n_tok, nullptr);
}

TEST(CpuMatmul, MultiThreadedLargerShapes) {
    ThreadPool pool(3);
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        check_matmul(dt, 301, 257, 1, &pool);
        check_matmul(dt, 129, 1023, 11, &pool);
        check_matmul(dt, 1000, 96, 4, &pool);
    }
}

TEST(CpuMatmul, ThreadsGiveBitwiseSameResult) {
    Weights w = make_weights(DType::F16, 513 * 200, 5);
    std::vector<float> x = randn(9 * 200, 6);
    std::vector<float> y1(9 * 513), y4(9 * 513);
    MatmulArgs a{w.raw.data(), DType::F16, 513, 200, x.data(), 200, 9, y1.data(), 513};
    matmul(a, nullptr);
    ThreadPool pool(4);
    a.y = y4.data();
    matmul(a, &pool);
    EXPECT_EQ(y1, y4);
}

// The decode matvec's software prefetch changes no result bit (the same sums in the same
// order), with the distance 0, the default, one line and a distance past the matrix's end,
// over column counts with and without the 32-column prefetch steps' remainders.
TEST(CpuMatmul, PrefetchDistanceGivesBitwiseSameResult) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
        for (uint64 cols : {16, 40, 64, 100, 4096 + 24}) {
            const uint64 rows = 37;
            Weights w = make_weights(dt, rows * cols, uint32(cols));
            std::vector<float> x = randn(cols, uint32(cols + 1));
            std::vector<std::vector<float>> ys;
            for (uint64 pf : {uint64(0), kDefaultMatvecPrefetchBytes, uint64(64), uint64(65536)}) {
                std::vector<float> y(rows);
                MatmulArgs a{w.raw.data(), dt, rows, cols, x.data(), cols, 1, y.data(), rows, pf};
                matmul(a, nullptr);
                ys.push_back(y);
            }
            for (size_t i = 1; i < ys.size(); ++i) EXPECT_EQ(ys[i], ys[0]) << dtype_name(dt) << " cols=" << cols << " setting " << i;
        }
}

// Several matmuls in one pool run give each one's matmul() result bit for bit (decode-sized:
// fused; a batch of 9 tokens: one after the other), over dtypes, odd shapes and row counts
// that leave remainders of the four-row groups and of the 128 KiB tasks.
TEST(CpuMatmul, BatchGivesEachMatmulsResultBitwise) {
    ThreadPool pool(3);
    struct M {
        DType dt;
        uint64 rows, cols;
    };
    const std::vector<M> shapes = {{DType::F16, 1, 4096}, {DType::F32, 37, 100}, {DType::BF16, 301, 257}, {DType::F16, 70, 1024}, {DType::F16, 5, 3}};
    for (uint32 n_tok : {1u, 3u, 9u}) {
        std::vector<Weights> ws;
        std::vector<std::vector<float>> xs, want, got;
        for (size_t i = 0; i < shapes.size(); ++i) {
            ws.push_back(make_weights(shapes[i].dt, shapes[i].rows * shapes[i].cols, uint32(i + 11)));
            xs.push_back(randn(n_tok * shapes[i].cols, uint32(i + 23)));
            want.emplace_back(n_tok * shapes[i].rows, -1.0f);
            got.emplace_back(n_tok * shapes[i].rows, -2.0f);
        }
        std::vector<MatmulArgs> args;
        for (size_t i = 0; i < shapes.size(); ++i) {
            const auto& m = shapes[i];
            MatmulArgs a{ws[i].raw.data(), m.dt, m.rows, m.cols, xs[i].data(), m.cols, n_tok, want[i].data(), m.rows};
            matmul(a, &pool);
            a.y = got[i].data();
            args.push_back(a);
        }
        for (bool fuse : {true, false}) {
            for (auto& g : got) std::fill(g.begin(), g.end(), -2.0f);
            matmul_batch(args.data(), args.size(), &pool, KernelPath::Auto, fuse);
            for (size_t i = 0; i < shapes.size(); ++i) EXPECT_EQ(got[i], want[i]) << "matrix " << i << ", " << n_tok << " tokens, fuse " << fuse;
        }
    }
}

// ---- f32 dot / axpy -----------------------------------------------------------------------

TEST(CpuVector, DotAndAxpyMatchDouble) {
    for (uint64 n : {1, 7, 8, 31, 32, 33, 257, 1000}) {
        auto a = randn(n, uint32(n)), b = randn(n, uint32(n + 1));
        double ref = 0.0, mag = 0.0;
        for (uint64 i = 0; i < n; ++i) ref += double(a[i]) * b[i], mag += std::fabs(double(a[i]) * b[i]);
        for (KernelPath p : paths()) {
            EXPECT_NEAR(dot_f32(a.data(), b.data(), n, p), ref, 1e-6 * mag * std::sqrt(double(n)) + 1e-12) << kernel_path_name(p) << " n=" << n;
            std::vector<float> y = b;
            axpy_f32(0.37f, a.data(), y.data(), n, p);
            for (uint64 i = 0; i < n; ++i) EXPECT_NEAR(y[i], double(b[i]) + 0.37 * a[i], 1e-6 * (std::fabs(b[i]) + std::fabs(a[i]))) << i;
        }
    }
}

// ---- rmsnorm, rope, attention, swiglu -------------------------------------------------------

TEST(CpuKernels, RmsNormMatchesDouble) {
    for (uint64 n : {1, 7, 64, 257}) {
        auto x = randn(n, 11), w = randn(n, 12);
        std::vector<float> out(n);
        rmsnorm(x.data(), w.data(), out.data(), n, 1e-5f);
        double ss = 0.0;
        for (float v : x) ss += double(v) * v;
        const double sc = 1.0 / std::sqrt(ss / double(n) + 1e-5);
        for (uint64 i = 0; i < n; ++i) EXPECT_NEAR(out[i], x[i] * sc * w[i], 1e-6 * std::fabs(x[i] * sc * w[i]) + 1e-7) << i;
        rmsnorm(x.data(), w.data(), x.data(), n, 1e-5f);  // in place
        EXPECT_EQ(x, out);
    }
}

// Double-precision rope of one head for one style.
std::vector<double> rope_ref(const std::vector<float>& x, uint32 hd, uint32 n_rot, uint32 pos, double base, double scale, RopeStyle st) {
    std::vector<double> y(x.begin(), x.end());
    for (uint32 i = 0; i < n_rot / 2; ++i) {
        const double th = pos * std::pow(base, -2.0 * i / n_rot) * scale;
        const uint32 a = st == RopeStyle::Normal ? 2 * i : i, b = st == RopeStyle::Normal ? 2 * i + 1 : i + n_rot / 2;
        y[a] = x[a] * std::cos(th) - x[b] * std::sin(th);
        y[b] = x[a] * std::sin(th) + x[b] * std::cos(th);
    }
    (void)hd;
    return y;
}

TEST(CpuKernels, RopeBothStylesMatchDouble) {
    for (RopeStyle st : {RopeStyle::Normal, RopeStyle::NeoX})
        for (uint32 hd : {2u, 32u, 160u})
            for (uint32 n_rot : {2u, hd / 2 * 2 == hd ? hd : 2u, hd >= 8 ? hd / 2 : 2u})
                for (uint32 pos : {0u, 1u, 7u, 100u}) {
                    const uint32 n_head = 3;
                    auto x = randn(uint64(n_head) * hd, hd + pos);
                    std::vector<float> y = x;
                    RopeParams p{hd, n_rot, 10000.0f, 0.5f, st};
                    rope(y.data(), n_head, pos, p);
                    for (uint32 h = 0; h < n_head; ++h) {
                        std::vector<float> xh(x.begin() + h * hd, x.begin() + (h + 1) * hd);
                        auto ref = rope_ref(xh, hd, n_rot, pos, 10000.0, 0.5, st);
                        for (uint32 i = 0; i < hd; ++i)
                            ASSERT_NEAR(y[h * hd + i], ref[i], 2e-5 * (1 + pos / 10.0)) << "style " << int(st) << " hd=" << hd << " n_rot=" << n_rot << " pos=" << pos << " i=" << i;
                    }
                }
}

TEST(CpuKernels, AttentionHeadMatchesDouble) {
    for (uint32 hd : {1u, 7u, 32u, 33u})
        for (uint32 n_kv : {1u, 2u, 9u, 65u}) {
            const uint64 stride = hd * 2 + 3;  // kv rows hold other heads too
            auto q = randn(hd, hd), k = randn(n_kv * stride, n_kv), v = randn(n_kv * stride, n_kv + 1);
            const float scale = 1.0f / std::sqrt(float(hd));
            std::vector<double> s(n_kv), ref(hd, 0.0);
            double mx = -1e300, sum = 0.0;
            for (uint32 j = 0; j < n_kv; ++j) {
                double d = 0;
                for (uint32 i = 0; i < hd; ++i) d += double(q[i]) * k[j * stride + i];
                s[j] = d * scale;
                mx = std::max(mx, s[j]);
            }
            for (auto& e : s) sum += (e = std::exp(e - mx));
            for (uint32 j = 0; j < n_kv; ++j)
                for (uint32 i = 0; i < hd; ++i) ref[i] += s[j] / sum * v[j * stride + i];
            for (KernelPath p : paths()) {
                std::vector<float> scores(n_kv), out(hd, NAN);
                attention_head(q.data(), k.data(), v.data(), stride, n_kv, hd, scale, scores.data(), out.data(), p);
                for (uint32 i = 0; i < hd; ++i) EXPECT_NEAR(out[i], ref[i], 1e-5) << kernel_path_name(p) << " hd=" << hd << " n_kv=" << n_kv;
            }
        }
}

TEST(CpuKernels, SwigluAndAdd) {
    auto g = randn(37, 1, 4.0f), u = randn(37, 2);
    auto y = g;
    swiglu(y.data(), u.data(), 37);
    for (int i = 0; i < 37; ++i) EXPECT_NEAR(y[i], g[i] / (1.0 + std::exp(-double(g[i]))) * u[i], 1e-5 * (1 + std::fabs(g[i] * u[i])));
    auto z = u;
    add_inplace(z.data(), g.data(), 37);
    for (int i = 0; i < 37; ++i) EXPECT_FLOAT_EQ(z[i], u[i] + g[i]);
}

TEST(CpuThreadPool, RunsEveryTaskOnceAndIsReusable) {
    for (uint32 th : {1u, 2u, 5u}) {
        ThreadPool pool(th);
        EXPECT_EQ(pool.size(), th);
        for (int round = 0; round < 50; ++round) {
            std::vector<std::atomic<int>> hit(97);
            pool.run(97, [&](uint32 t, uint32 w) {
                ASSERT_LT(w, th);
                hit[t]++;
            });
            for (auto& h : hit) ASSERT_EQ(h.load(), 1);
        }
        std::vector<int> cover(1001, 0);
        pool.parallel_for(1001, 10, [&](uint64 b, uint64 e, uint32) {
            for (uint64 i = b; i < e; ++i) cover[i]++;  // chunks are disjoint: no race
        });
        for (int c : cover) ASSERT_EQ(c, 1);
    }
    EXPECT_GE(ThreadPool(0).size(), 1u);
}

}  // namespace
