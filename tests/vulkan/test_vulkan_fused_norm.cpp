// RMSNorm fused into the decode matvecs (matvec_norm, matvec_rope_norm, matvec_swiglu_norm)
// against a double reference, per weight dtype, on odd shapes, with offsets, pieces and the
// backend's workgroup shapes. NMSE thresholds: f32 arithmetic only (f32 / bf16, or f16 without
// f16 products): 1e-10; f16 products round x * gamma to f16: expected u^2 / 3 = 7.9e-8 (see
// test_vulkan_coop_matmul.cpp), asserted 1e-6 (2e-6 SwiGLU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

struct Mode {
    ShaderSpecialization spec;
    const char* name;
    bool tuned = false;  // OpContext::tuned_workgroups
};

// The op tests' shapes: 16x16 with subgroups and f16 math, shared-memory reductions in f32,
// an odd 8x5 workgroup, and the backend's tuned matvec shapes.
std::vector<Mode> modes() {
    ShaderSpecialization a, b, c;
    b.use_subgroup_ops = false;
    b.use_fp16_math = false;
    c.workgroup_size_x = 8;
    c.workgroup_size_y = 5;
    c.use_fp16_math = false;
    return {{a, "sg+fp16"}, {b, "shared+fp32"}, {c, "8x5 sg"}, {a, "tuned sg+fp16", true}, {b, "tuned shared+fp32", true}};
}

void apply(OpContext& c, const Mode& m, const VulkanEnv& env) {
    c.tuned_workgroups = m.tuned;
    c.subgroup_size = env.dev->caps().subgroup_size;
}

bool f16_products(DType t, const Mode& m, const VulkanEnv& env) { return t == DType::F16 && env.rt->effective(m.spec).use_fp16_math; }

double threshold(DType t, const Mode& m, const VulkanEnv& env, bool swiglu = false) {
    return f16_products(t, m, env) ? (swiglu ? 2e-6 : 1e-6) : 1e-10;
}

const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

// rmsnorm(x[t]) * gamma in double: (n, cols), x rows at x_offset + t * x_stride.
std::vector<double> ref_norm(const std::vector<float>& x, const std::vector<float>& gamma, uint32 cols, uint32 n, uint32 x_stride,
                             uint32 x_offset, double eps) {
    std::vector<double> xn(size_t(n) * cols);
    for (uint32 t = 0; t < n; ++t) {
        const float* xt = x.data() + x_offset + size_t(t) * x_stride;
        double ss = 0;
        for (uint32 k = 0; k < cols; ++k) ss += double(xt[k]) * xt[k];
        const double inv = 1.0 / std::sqrt(ss / cols + eps);
        for (uint32 k = 0; k < cols; ++k) xn[size_t(t) * cols + k] = xt[k] * inv * gamma[k];
    }
    return xn;
}

// W xn[t] in double: (n, rows).
std::vector<double> ref_matmul(const std::vector<float>& w, const std::vector<double>& xn, uint32 rows, uint32 cols, uint32 n) {
    std::vector<double> y(size_t(n) * rows);
    for (uint32 t = 0; t < n; ++t)
        for (uint32 r = 0; r < rows; ++r) {
            double s = 0;
            for (uint32 k = 0; k < cols; ++k) s += double(w[size_t(r) * cols + k]) * xn[size_t(t) * cols + k];
            y[size_t(t) * rows + r] = s;
        }
    return y;
}

// A gamma buffer holding `pad` unused floats, then gamma (the backend packs every norm of a
// model into one buffer at element offsets).
struct Gamma {
    std::vector<float> values;
    FusedNorm norm;
};
Gamma make_gamma(VulkanEnv& env, uint32 cols, uint32 pad, float eps, uint64 seed) {
    Gamma g{random_values(cols, seed), {}};
    for (auto& v : g.values) v = 1.0f + 0.5f * v;  // around 1, like trained norm weights, some negative
    std::vector<float> buf(pad + cols + 4, 1e6f);  // poison outside gamma
    std::copy(g.values.begin(), g.values.end(), buf.begin() + pad);
    g.norm = FusedNorm{env.upload(buf.data(), buf.size() * 4).buffer, pad, eps};
    return g;
}

}  // namespace

TEST(VulkanFusedNorm, MatvecAccumulateAllDtypesShapesModes) {
    VKS_REQUIRE_VULKAN();
    // cols % 8 != 0 (scalar loads) and cols % 8 == 0 (16-byte loads, also with a gamma offset
    // that is not a multiple of 4: scalar), odd rows, pieces, up to kMatvecMaxTokens tokens,
    // x rows at an offset with a stride larger than cols, eps that matters (0.75) or not.
    struct Shape { uint32 rows, cols, n, x_pad, g_pad; float eps; std::vector<uint32> cuts; };
    const Shape shapes[] = {{1, 1, 1, 0, 0, 1e-5f, {}},        {37, 129, 1, 0, 3, 1e-5f, {}},   {45, 256, 3, 4, 8, 0.75f, {12, 30}},
                            {3, 520, kMatvecMaxTokens, 8, 0, 1e-5f, {}}, {67, 136, 4, 0, 5, 0.75f, {33}}, {33, 70, 5, 3, 2, 1e-5f, {}}};
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (const auto& s : shapes) {
                const uint32 stride = s.cols + s.x_pad;
                auto wv = random_values(size_t(s.rows) * s.cols, s.rows * 31 + s.cols);
                auto xv = random_values(s.x_pad + size_t(s.n) * stride, 7 + s.n, 2.0f);
                auto w = env->weight(wv, s.rows, s.cols, t, s.cuts);
                auto x = env->upload(xv.data(), xv.size() * 4);
                auto g = make_gamma(*env, s.cols, s.g_pad, s.eps, 99 + s.cols);
                // Y starts with ones and an offset of 3 elements; accumulate adds to it.
                const uint32 off = 3;
                std::vector<float> y0(off + size_t(s.n) * s.rows, 1.0f);
                auto y = env->upload(y0.data(), y0.size() * 4);
                env->run(m.spec, [&](OpContext& c) {
                    apply(c, m, *env);
                    return op_matmul(c, w, env->act(x, stride, s.x_pad), env->act(y, s.rows, off), s.n, true, false, &g.norm);
                });
                auto got = env->download(y, y0.size());
                auto want = ref_matmul(wv, ref_norm(xv, g.values, s.cols, s.n, stride, s.x_pad, s.eps), s.rows, s.cols, s.n);
                for (auto& v : want) v += 1.0;
                std::vector<float> gy(got.begin() + off, got.end());
                EXPECT_LT(nmse(gy, want), threshold(t, m, *env))
                    << m.name << " " << dtype_name(t) << " " << s.rows << "x" << s.cols << " n=" << s.n << " eps " << s.eps;
                EXPECT_EQ(got[0], 1.0f) << "wrote before y_offset";
            }
}

TEST(VulkanFusedNorm, MatvecRopeNormalAndNeox) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (bool neox : {false, true})
                for (uint32 n : {1u, 3u, 8u}) {
                    const uint32 head_dim = 16, n_head = 3, rows = head_dim * n_head, n_rot = neox ? 12 : 16, pos0 = 5;
                    const uint32 cols = n % 2 ? 40 : 37;  // 16-byte / scalar loads
                    auto wv = random_values(rows * cols, 11);
                    auto xv = random_values(n * cols, 12, 3.0f);
                    auto w = env->weight(wv, rows, cols, t, {head_dim});
                    auto x = env->upload(xv.data(), xv.size() * 4);
                    auto y = env->buffer(n * rows * 4);
                    auto g = make_gamma(*env, cols, 4, 1e-5f, 13);
                    auto tab = rope_table(pos0 + n, n_rot, 10000.0f, 1.0f);
                    auto tb = env->upload(tab.data(), tab.size() * 4);
                    RopeConfig rc{pos0, head_dim, n_rot, neox, 10000.0f, 1.0f, tb.buffer};
                    env->run(m.spec, [&](OpContext& c) {
                        apply(c, m, *env);
                        return op_matmul_rope(c, w, env->act(x, cols), env->act(y, rows), n, rc, &g.norm);
                    });
                    auto got = env->download(y, n * rows);
                    auto lin = ref_matmul(wv, ref_norm(xv, g.values, cols, n, cols, 0, 1e-5), rows, cols, n);
                    const auto want = ref_rope(lin, rows, n, n_head, head_dim, n_rot, neox, pos0);
                    // 1e-9 floor: the rope table is f32 (as in the op tests).
                    EXPECT_LT(nmse(got, want), std::max(threshold(t, m, *env), 1e-9))
                        << m.name << " " << dtype_name(t) << (neox ? " neox" : " normal") << " n=" << n << " cols " << cols;
                }
}

TEST(VulkanFusedNorm, SwigluGateUp) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (uint32 n : {1u, 6u})
                for (uint32 cols : {67u, 64u}) {  // scalar / 16-byte loads
                    const uint32 rows = 45;
                    auto gv = random_values(rows * cols, 1), uv = random_values(rows * cols, 2);
                    auto xv = random_values(n * cols, 3, 0.3f);
                    auto gate = env->weight(gv, rows, cols, t, {10});
                    auto up = env->weight(uv, rows, cols, t, {30});
                    auto x = env->upload(xv.data(), xv.size() * 4);
                    auto y = env->buffer(n * rows * 4);
                    // eps 0.05 against mean(x^2) = 0.09: a kernel that dropped eps would fail.
                    auto g = make_gamma(*env, cols, 0, 0.05f, 17);
                    env->run(m.spec, [&](OpContext& c) {
                        apply(c, m, *env);
                        return op_swiglu(c, gate, up, env->act(x, cols), env->act(y, rows), n, &g.norm);
                    });
                    auto got = env->download(y, n * rows);
                    const auto xn = ref_norm(xv, g.values, cols, n, cols, 0, 0.05);
                    auto a = ref_matmul(gv, xn, rows, cols, n), b = ref_matmul(uv, xn, rows, cols, n);
                    std::vector<double> want(a.size());
                    for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] / (1.0 + std::exp(-a[i])) * b[i];
                    EXPECT_LT(nmse(got, want), threshold(t, m, *env, true)) << m.name << " " << dtype_name(t) << " n=" << n << " cols " << cols;
                }
}

// The fused ops are for matvec-path batches: a batch past the small-N kernel's (the tiled matmul)
// must run op_rmsnorm first, and asking for the fusion there is an error, not a silently
// unnormalized product.
TEST(VulkanFusedNorm, RejectsBatchesAndMissingGamma) {
    VKS_REQUIRE_VULKAN();
    const uint32 rows = 16, cols = 8, n = kSmallNMaxTokens + 1;
    auto wv = random_values(rows * cols, 1);
    auto w = env->weight(wv, rows, cols, DType::F32);
    auto x = env->buffer(n * cols * 4), y = env->buffer(n * rows * 4);
    auto g = make_gamma(*env, cols, 0, 1e-5f, 2);
    auto tab = rope_table(n, 16, 10000.0f, 1.0f);
    auto tb = env->upload(tab.data(), tab.size() * 4);
    const FusedNorm no_gamma{VK_NULL_HANDLE, 0, 1e-5f};
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    env->rt->begin(*cmd);
    OpContext c = env->ctx(ShaderSpecialization{});
    auto r1 = op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false, false, &g.norm);
    auto r2 = op_matmul_rope(c, w, env->act(x, cols), env->act(y, rows), n, RopeConfig{0, 16, 16, false, 10000.0f, 1.0f, tb.buffer}, &g.norm);
    auto r3 = op_swiglu(c, w, w, env->act(x, cols), env->act(y, rows), n, &g.norm);
    auto r4 = op_matmul(c, w, env->act(x, cols), env->act(y, rows), 1, false, false, &no_gamma);
    for (const auto* r : {&r1, &r2, &r3, &r4}) {
        ASSERT_FALSE(*r);
        EXPECT_EQ(r->error().code, ErrorCode::InvalidArgument) << r->error().to_string();
    }
    ASSERT_TRUE(env->compute->submit_and_wait());
}
