// The tensor-core matmul (matmul_coop.comp) against a double reference on shapes off its
// 128 x 128 tile and 32 k slice, with pieces, accumulate, rope, SwiGLU and round_f16; each case
// also asserts which kernel ran (kernel profiling). Threshold: x rounded to f16 (u = 2^-11) and
// multiplied exactly gives an expected NMSE of u^2 / 3 = 7.9e-8 (round_f16 adds <= u^2, SwiGLU
// about doubles it); asserted 1e-6 (2e-6 SwiGLU): sampling noise passes, a wrong element
// (NMSE >= ~1 / elements) fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

constexpr double kCoopNmse = 1e-6;
constexpr double kCoopSwigluNmse = 2e-6;

#define VKS_REQUIRE_COOP()                                                                                          \
    VKS_REQUIRE_VULKAN();                                                                                           \
    if (!env->dev->caps().cooperative_matrix)                                                                       \
        GTEST_SKIP() << "VK_NV_cooperative_matrix (16x16x16 f16 -> f32, subgroup size 32) is not available on " \
                     << env->dev->caps().device_name;

std::vector<double> ref_matmul(const std::vector<float>& w, const std::vector<float>& x, uint32 rows, uint32 cols, uint32 n,
                               uint32 x_stride, uint32 x_offset = 0) {
    std::vector<double> y(size_t(n) * rows);
    for (uint32 t = 0; t < n; ++t)
        for (uint32 r = 0; r < rows; ++r) {
            double s = 0;
            for (uint32 k = 0; k < cols; ++k) s += double(w[size_t(r) * cols + k]) * x[x_offset + size_t(t) * x_stride + k];
            y[size_t(t) * rows + r] = s;
        }
    return y;
}

// Runs fn(ctx) with kernel profiling and returns the shader variants that ran.
template <class Fn>
std::vector<std::string> run_profiled(VulkanEnv& env, bool coop, Fn&& fn) {
    EXPECT_TRUE(env.rt->set_kernel_profiling(true));
    env.rt->reset_kernel_times();
    env.run(ShaderSpecialization{}, [&](OpContext& c) {
        c.coop_matmul = coop;
        c.subgroup_size = env.dev->caps().subgroup_size;
        return fn(c);
    });
    auto r = env.rt->collect_kernel_times();
    EXPECT_TRUE(r) << r.error().to_string();
    std::vector<std::string> names;
    for (const auto& k : env.rt->kernel_times()) names.push_back(k.name);
    EXPECT_TRUE(env.rt->set_kernel_profiling(false));
    return names;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + " ";
    return s;
}

bool ran(const std::vector<std::string>& names, const std::string& variant) {
    return std::find(names.begin(), names.end(), variant) != names.end();
}

}  // namespace

// Plain product with accumulate over a y offset, x with an offset and a stride, several
// pieces (separate buffers), edges of the row tile, the token tile and the k slice.
TEST(VulkanCoopMatmul, PlainAccumulateEdgesPieces) {
    VKS_REQUIRE_COOP();
    struct Shape { uint32 rows, cols, n; std::vector<uint32> cuts; };
    const Shape shapes[] = {{37, 64, 9, {}},           {200, 136, 130, {64, 150}}, {300, 520, 257, {128}},
                            {129, 8, 12, {}},          {128, 32, 128, {}},         {513, 1000, 200, {100, 256, 400}}};
    for (const auto& s : shapes) {
        const uint32 x_off = 4, x_stride = s.cols + 8, y_off = 3;
        auto wv = random_values(size_t(s.rows) * s.cols, s.rows * 7 + s.cols);
        auto xv = random_values(x_off + size_t(s.n) * x_stride, 3 + s.n);
        auto w = env->weight(wv, s.rows, s.cols, DType::F16, s.cuts);
        auto x = env->upload(xv.data(), xv.size() * 4);
        std::vector<float> y0(y_off + size_t(s.n) * s.rows, 1.0f);
        auto y = env->upload(y0.data(), y0.size() * 4);
        auto names = run_profiled(*env, true, [&](OpContext& c) {
            return op_matmul(c, w, env->act(x, x_stride, x_off), env->act(y, s.rows, y_off), s.n, true);
        });
        EXPECT_TRUE(ran(names, "matmul_coop_f16")) << joined(names);
        auto got = env->download(y, y0.size());
        auto want = ref_matmul(wv, xv, s.rows, s.cols, s.n, x_stride, x_off);
        for (auto& v : want) v += 1.0;
        std::vector<float> g(got.begin() + y_off, got.end());
        EXPECT_LT(nmse(g, want), kCoopNmse) << s.rows << "x" << s.cols << " n=" << s.n;
        EXPECT_EQ(got[0], 1.0f) << "wrote before y_offset";
    }
}

// round_f16 (Q / K / V precision) through the coop epilogue: f16 values within f16
// rounding of the f16-product result.
TEST(VulkanCoopMatmul, RoundsToF16) {
    VKS_REQUIRE_COOP();
    const uint32 rows = 150, cols = 96, n = 40;
    auto wv = random_values(rows * cols, 21), xv = random_values(n * cols, 22);
    auto w = env->weight(wv, rows, cols, DType::F16);
    auto x = env->upload(xv.data(), xv.size() * 4);
    auto y = env->buffer(n * rows * 4);
    auto names = run_profiled(*env, true, [&](OpContext& c) {
        return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false, true);
    });
    EXPECT_TRUE(ran(names, "matmul_coop_f16")) << joined(names);
    auto got = env->download(y, n * rows);
    auto want = ref_matmul(wv, xv, rows, cols, n, cols);
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(f16_bits_to_f32(f32_to_f16_bits(got[i])), got[i]) << "not an f16 value: " << got[i] << " at " << i;
    EXPECT_LT(nmse(got, want), kCoopNmse);
}

// Rope epilogue, normal and NeoX, Llama's head_dim 128 (the pairs of a NeoX head are 64 rows
// apart: they meet through the logical-row order) and a small head with partial rotation.
TEST(VulkanCoopMatmul, RopeNormalAndNeox) {
    VKS_REQUIRE_COOP();
    struct Case { uint32 head_dim, n_head, n_rot, cols, n; };
    const Case cases[] = {{128, 3, 128, 96, 70}, {16, 5, 12, 40, 33}};
    for (const auto& cs : cases)
        for (bool neox : {false, true}) {
            const uint32 rows = cs.head_dim * cs.n_head, pos0 = 5, n = cs.n, cols = cs.cols, n_rot = cs.n_rot;
            auto wv = random_values(rows * cols, 11 + rows);
            auto xv = random_values(n * cols, 12);
            auto w = env->weight(wv, rows, cols, DType::F16, {cs.head_dim});
            auto x = env->upload(xv.data(), xv.size() * 4);
            auto y = env->buffer(n * rows * 4);
            auto tab = rope_table(pos0 + n, n_rot, 10000.0f, 1.0f);
            auto tb = env->upload(tab.data(), tab.size() * 4);
            RopeConfig rc{pos0, cs.head_dim, n_rot, neox, 10000.0f, 1.0f, tb.buffer};
            auto names = run_profiled(*env, true, [&](OpContext& c) {
                return op_matmul_rope(c, w, env->act(x, cols), env->act(y, rows), n, rc);
            });
            EXPECT_TRUE(ran(names, "matmul_coop_f16")) << joined(names);
            auto got = env->download(y, n * rows);
            auto lin = ref_matmul(wv, xv, rows, cols, n, cols);
            const auto want = ref_rope(lin, rows, n, cs.n_head, cs.head_dim, n_rot, neox, pos0);
            EXPECT_LT(nmse(got, want), kCoopNmse) << "head_dim " << cs.head_dim << (neox ? " neox" : " normal");
        }
}

// SwiGLU gate / up with different piece boundaries in gate and up.
TEST(VulkanCoopMatmul, SwigluGateUp) {
    VKS_REQUIRE_COOP();
    struct Case { uint32 rows, cols, n; };
    for (const Case cs : {Case{45, 64, 70}, Case{300, 256, 200}}) {
        auto gv = random_values(cs.rows * cs.cols, 1), uv = random_values(cs.rows * cs.cols, 2);
        auto xv = random_values(cs.n * cs.cols, 3, 0.2f);
        auto g = env->weight(gv, cs.rows, cs.cols, DType::F16, {10});
        auto u = env->weight(uv, cs.rows, cs.cols, DType::F16, {30});
        auto x = env->upload(xv.data(), xv.size() * 4);
        auto y = env->buffer(cs.n * cs.rows * 4);
        auto names = run_profiled(*env, true, [&](OpContext& c) {
            return op_swiglu(c, g, u, env->act(x, cs.cols), env->act(y, cs.rows), cs.n);
        });
        EXPECT_TRUE(ran(names, "matmul_coop_swiglu_f16")) << joined(names);
        auto got = env->download(y, cs.n * cs.rows);
        auto a = ref_matmul(gv, xv, cs.rows, cs.cols, cs.n, cs.cols), b = ref_matmul(uv, xv, cs.rows, cs.cols, cs.n, cs.cols);
        std::vector<double> want(a.size());
        for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] / (1.0 + std::exp(-a[i])) * b[i];
        EXPECT_LT(nmse(got, want), kCoopSwigluNmse) << cs.rows << "x" << cs.cols << " n=" << cs.n;
    }
}

// Where the coop kernel cannot run (cols % 8 != 0, OpContext::coop_matmul off) the tiled
// kernel does, with the same result.
TEST(VulkanCoopMatmul, FallsBackToTiled) {
    VKS_REQUIRE_COOP();
    for (uint32 cols : {67u, 64u}) {
        const uint32 rows = 70, n = 20;
        const bool coop = cols == 67;  // 67: not possible; 64: possible but switched off
        auto wv = random_values(rows * cols, 5), xv = random_values(n * cols, 6);
        auto w = env->weight(wv, rows, cols, DType::F16);
        auto x = env->upload(xv.data(), xv.size() * 4);
        auto y = env->buffer(n * rows * 4);
        auto names = run_profiled(*env, coop, [&](OpContext& c) {
            return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false);
        });
        EXPECT_FALSE(ran(names, "matmul_coop_f16")) << joined(names);
        EXPECT_TRUE(ran(names, "matmul_f16_fp16")) << joined(names);
        EXPECT_LT(nmse(env->download(y, n * rows), ref_matmul(wv, xv, rows, cols, n, cols)), 1e-5);
    }
}

// On a device without the extension the coop pipelines are refused (never built: the SPIR-V
// capability would fail there) and batches of f16 weights run the tiled kernel.
TEST(VulkanCoopMatmul, RefusedWithoutExtension) {
    VKS_REQUIRE_VULKAN();
    if (env->dev->caps().cooperative_matrix) GTEST_SKIP() << env->dev->caps().device_name << " has VK_NV_cooperative_matrix";
    ShaderSpecialization s;
    s.workgroup_size_x = VKS_COOP_THREADS;
    s.workgroup_size_y = 1;
    EXPECT_EQ(env->rt->get_pipeline(Kernel::MatmulCoop, DType::F16, s), VK_NULL_HANDLE);
    EXPECT_NE(env->rt->last_error().find("VK_NV_cooperative_matrix"), std::string::npos) << env->rt->last_error();
    const uint32 rows = 40, cols = 64, n = 20;
    auto wv = random_values(rows * cols, 8), xv = random_values(n * cols, 9);
    auto w = env->weight(wv, rows, cols, DType::F16);
    auto x = env->upload(xv.data(), xv.size() * 4);
    auto y = env->buffer(n * rows * 4);
    if (env->dev->caps().timestamp_valid_bits == 0) GTEST_SKIP() << "no timestamps: cannot name the kernel that ran";
    auto names = run_profiled(*env, true, [&](OpContext& c) { return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false); });
    EXPECT_FALSE(ran(names, "matmul_coop_f16")) << joined(names);
    EXPECT_LT(nmse(env->download(y, n * rows), ref_matmul(wv, xv, rows, cols, n, cols)), 1e-5);
}
