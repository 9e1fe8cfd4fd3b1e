// Every kernel vs a scalar double-precision reference, per weight dtype, over odd and
// remainder shapes, with subgroups on/off and fp16 math on/off.
// Thresholds (NMSE = sum (got - want)^2 / sum want^2):
//   matvec / matmul / swiglu / rmsnorm / attention with exact fp32 math: 1e-10 (the weights
//   are the dtype-rounded values, so only f32 accumulation order differs);
//   with f16 products (fp16 math on, f16 weights): 1e-5; add: exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "VulkanTestEnv.h"
#include "common/HalfFloat.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

struct Mode {
    ShaderSpecialization spec;
    const char* name;
    bool tuned = false;  // OpContext::tuned_workgroups (false: spec's workgroup size for every kernel)
    uint32 small_lanes = 64;  // OpContext::matvec_small_lanes (tuned matvecs of few units; the default)
};

std::vector<Mode> modes() {
    std::vector<Mode> m;
    ShaderSpecialization a;  // 16x16, subgroups, fp16 math
    m.push_back({a, "sg+fp16"});
    ShaderSpecialization b;
    b.use_subgroup_ops = false;
    b.use_fp16_math = false;
    m.push_back({b, "shared+fp32"});
    ShaderSpecialization c;
    c.workgroup_size_x = 8;
    c.workgroup_size_y = 5;  // odd workgroup: non-power-of-two reductions, partial subgroups
    c.use_fp16_math = false;
    m.push_back({c, "8x5 sg"});
    // The workgroup shapes the backend runs with (matvec: subgroup-wide rows, matmul: 16x16).
    m.push_back({a, "tuned sg+fp16", true});
    m.push_back({b, "tuned shared+fp32", true});
    m.push_back({a, "tuned sg+fp16, 128 lanes per small unit", true, 128});  // VK_SYMBIOTE_MATVEC_LANES
    m.push_back({a, "tuned sg+fp16, 256 lanes per small unit", true, 256});
    return m;
}

// The context settings of mode m (the device's subgroup size for the tuned shapes).
void apply(OpContext& c, const Mode& m, const VulkanEnv& env) {
    c.tuned_workgroups = m.tuned;
    c.matvec_small_lanes = m.small_lanes;
    c.subgroup_size = env.dev->caps().subgroup_size;
}

// Like VulkanEnv::weight, but every piece in ONE buffer at aligned byte offsets with a bound
// range (a streaming slot holding several pieces).
DeviceWeight weight_one_buffer(VulkanEnv& env, std::vector<float>& values, uint32 rows, uint32 cols, DType t,
                               std::vector<uint32> cuts) {
    auto bytes = encode(values, t);
    const uint64 align = std::max<uint64>(env.dev->caps().min_storage_buffer_offset_alignment, 16);
    const uint64 rb = uint64(cols) * dtype_size(t);
    DeviceWeight w{t, rows, cols, {}};
    cuts.push_back(rows);
    std::vector<uint8> packed;
    uint32 r = 0;
    for (uint32 c : cuts) {
        if (c <= r) continue;
        const uint64 off = (packed.size() + 64 + align - 1) / align * align;  // a gap, so offset 0 is not the only case
        const uint64 n = (c - r) * rb, range = (n + 3) / 4 * 4;
        packed.resize(off + range, 0xEE);
        std::memcpy(packed.data() + off, bytes.data() + r * rb, n);
        w.pieces.push_back({VK_NULL_HANDLE, r, c - r, off, range});
        r = c;
    }
    packed.resize(packed.size() + 64, 0xEE);
    auto buf = env.upload(packed.data(), packed.size());
    for (auto& p : w.pieces) p.buffer = buf.buffer;
    return w;
}

double threshold(DType t, const Mode& m, const VulkanEnv& env) {
    const bool f16_products = t == DType::F16 && env.rt->effective(m.spec).use_fp16_math;
    return f16_products ? 1e-5 : 1e-10;
}

const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16};

std::vector<double> ref_matmul(const std::vector<float>& w, const std::vector<float>& x, uint32 rows, uint32 cols, uint32 n) {
    std::vector<double> y(size_t(n) * rows);
    for (uint32 t = 0; t < n; ++t)
        for (uint32 r = 0; r < rows; ++r) {
            double s = 0;
            for (uint32 k = 0; k < cols; ++k) s += double(w[size_t(r) * cols + k]) * x[size_t(t) * cols + k];
            y[size_t(t) * rows + r] = s;
        }
    return y;
}

}  // namespace

TEST(VulkanOps, MatmulAllDtypesShapesModes) {
    VKS_REQUIRE_VULKAN();
    // Odd shapes (scalar loads), cols % 8 == 0 shapes (16-byte loads), matvec (n <= kMatvecMaxTokens) and
    // matmul (n > kMatvecMaxTokens) paths, several row / token tiles, pieces in separate buffers or in one.
    struct Shape { uint32 rows, cols, n; std::vector<uint32> cuts; bool one_buffer; };
    const Shape shapes[] = {{1, 1, 1, {}, false},        {37, 129, 1, {}, false},     {64, 300, 1, {17, 40}, false},
                            {33, 70, 5, {}, false},      {50, 47, 19, {20}, false},   {45, 256, 1, {12, 30}, true},
                            {3, 520, 2, {}, false},      {130, 64, 70, {64}, true},   {200, 72, 9, {}, false},
                            {67, 136, 4, {33}, true},    {129, 24, 130, {}, false}};
    size_t n_matvec = 0, n_matmul = 0;  // both paths must be covered
    for (const auto& s : shapes) (s.n <= kMatvecMaxTokens ? n_matvec : n_matmul) += 1;
    ASSERT_GE(n_matvec, 3u);
    ASSERT_GE(n_matmul, 3u);
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (const auto& s : shapes) {
                auto wv = random_values(size_t(s.rows) * s.cols, s.rows * 31 + s.cols);
                auto xv = random_values(size_t(s.n) * s.cols, 7 + s.n);
                auto w = s.one_buffer ? weight_one_buffer(*env, wv, s.rows, s.cols, t, s.cuts) : env->weight(wv, s.rows, s.cols, t, s.cuts);
                auto x = env->upload(xv.data(), xv.size() * 4);
                // Y starts with ones and an offset of 3 elements; accumulate adds to it.
                const uint32 off = 3;
                std::vector<float> y0(off + size_t(s.n) * s.rows, 1.0f);
                auto y = env->upload(y0.data(), y0.size() * 4);
                env->run(m.spec, [&](OpContext& c) {
                    apply(c, m, *env);
                    return op_matmul(c, w, env->act(x, s.cols), env->act(y, s.rows, off), s.n, true);
                });
                auto got = env->download(y, y0.size());
                auto want = ref_matmul(wv, xv, s.rows, s.cols, s.n);
                for (auto& v : want) v += 1.0;
                std::vector<float> g(got.begin() + off, got.end());
                const double e = nmse(g, want);
                EXPECT_LT(e, threshold(t, m, *env)) << m.name << " " << dtype_name(t) << " " << s.rows << "x" << s.cols << " n=" << s.n;
                EXPECT_EQ(got[0], 1.0f) << "wrote before y_offset";
            }
}

// round_f16 (K / V / Q precision): every output is an f16 value within f16 rounding of the
// exact result, on both the matvec and the matmul path.
TEST(VulkanOps, MatmulRoundsToF16) {
    VKS_REQUIRE_VULKAN();
    const uint32 rows = 40, cols = 64;
    for (uint32 n : {1u, 9u}) {
        auto wv = random_values(rows * cols, 3), xv = random_values(n * cols, 4);
        auto w = env->weight(wv, rows, cols, DType::F32);
        auto x = env->upload(xv.data(), xv.size() * 4);
        auto y = env->buffer(n * rows * 4);
        Mode m{ShaderSpecialization{}, "tuned", true};
        m.spec.use_fp16_math = false;
        env->run(m.spec, [&](OpContext& c) {
            apply(c, m, *env);
            return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false, true);
        });
        auto got = env->download(y, n * rows);
        auto want = ref_matmul(wv, xv, rows, cols, n);
        for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(f16_bits_to_f32(f32_to_f16_bits(got[i])), got[i]) << "not an f16 value: " << got[i] << " n=" << n;
            EXPECT_NEAR(got[i], want[i], std::abs(want[i]) * 1e-3 + 1e-6) << i << " n=" << n;
        }
    }
}

TEST(VulkanOps, SwigluFusedGateUp) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (uint32 n : {1u, 3u, 6u, 70u})
                for (uint32 cols : {67u, 64u}) {  // scalar / 16-byte loads
                    const uint32 rows = 45;
                    auto gv = random_values(rows * cols, 1), uv = random_values(rows * cols, 2);
                    auto xv = random_values(n * cols, 3, 0.2f);
                    auto g = env->weight(gv, rows, cols, t, {10});
                    auto u = env->weight(uv, rows, cols, t, {30});  // different piece boundaries than gate
                    auto x = env->upload(xv.data(), xv.size() * 4);
                    auto y = env->buffer(n * rows * 4);
                    env->run(m.spec, [&](OpContext& c) {
                        apply(c, m, *env);
                        return op_swiglu(c, g, u, env->act(x, cols), env->act(y, rows), n);
                    });
                    auto got = env->download(y, n * rows);
                    auto a = ref_matmul(gv, xv, rows, cols, n), b = ref_matmul(uv, xv, rows, cols, n);
                    std::vector<double> want(a.size());
                    for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] / (1.0 + std::exp(-a[i])) * b[i];
                    EXPECT_LT(nmse(got, want), threshold(t, m, *env)) << m.name << " " << dtype_name(t) << " n=" << n << " cols " << cols;
                }
}

TEST(VulkanOps, MatmulRopeNormalAndNeox) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (bool neox : {false, true})
                for (uint32 n : {1u, 3u, 9u, 70u}) {  // matvec (n <= kMatvecMaxTokens) and matmul rope epilogue
                    const uint32 head_dim = 16, n_head = 3, rows = head_dim * n_head, n_rot = neox ? 12 : 16, pos0 = 5;
                    const uint32 cols = n % 2 ? 40 : 37;  // 16-byte / scalar loads
                    auto wv = random_values(rows * cols, 11);
                    auto xv = random_values(n * cols, 12);
                    auto w = env->weight(wv, rows, cols, t, {head_dim});
                    auto x = env->upload(xv.data(), xv.size() * 4);
                    auto y = env->buffer(n * rows * 4);
                    auto tab = rope_table(pos0 + n, n_rot, 10000.0f, 1.0f);
                    auto tb = env->upload(tab.data(), tab.size() * 4);
                    RopeConfig rc{pos0, head_dim, n_rot, neox, 10000.0f, 1.0f, tb.buffer};
                    env->run(m.spec, [&](OpContext& c) {
                        apply(c, m, *env);
                        return op_matmul_rope(c, w, env->act(x, cols), env->act(y, rows), n, rc);
                    });
                    auto got = env->download(y, n * rows);
                    auto lin = ref_matmul(wv, xv, rows, cols, n);
                    const auto want = ref_rope(lin, rows, n, n_head, head_dim, n_rot, neox, pos0);
                    EXPECT_LT(nmse(got, want), std::max(threshold(t, m, *env), 1e-9))
                        << m.name << " " << dtype_name(t) << (neox ? " neox" : " normal") << " n=" << n << " cols " << cols;
                }
}

TEST(VulkanOps, RmsNorm) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (DType t : kDTypes)
            for (uint32 n : {1u, 100u, 257u}) {
                if (m.tuned) continue;  // tuned shapes only concern the weight kernels
                const uint32 ntok = 3;
                auto wv = random_values(n, 5);
                auto xv = random_values(ntok * n, 6, 3.0f);
                auto w = env->weight(wv, 1, n, t);
                auto x = env->upload(xv.data(), xv.size() * 4);
                auto y = env->buffer(ntok * n * 4);
                env->run(m.spec, [&](OpContext& c) { return op_rmsnorm(c, w, env->act(x, n), env->act(y, n), n, ntok, 1e-5f); });
                auto got = env->download(y, ntok * n);
                std::vector<double> want(ntok * n);
                for (uint32 tt = 0; tt < ntok; ++tt) {
                    double ss = 0;
                    for (uint32 i = 0; i < n; ++i) ss += double(xv[tt * n + i]) * xv[tt * n + i];
                    const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
                    for (uint32 i = 0; i < n; ++i) want[tt * n + i] = xv[tt * n + i] * inv * wv[i];
                }
                EXPECT_LT(nmse(got, want), 1e-10) << m.name << " " << dtype_name(t) << " n=" << n;
            }
}

TEST(VulkanOps, AttentionCausalGqa) {
    VKS_REQUIRE_VULKAN();
    struct Case { uint32 n_head, n_head_kv, head_dim, pos0, n_tokens; };
    // MHA, GQA, MQA; decode (1 token) after a long cache (crosses several key chunks) and a prompt batch.
    // A 7B decode head (128 dims: subgroup path with 32 lanes, shared path with lavapipe's 8)
    // over 1000 keys, and a 64-dim GQA batch of 3 tokens over 3..5 keys (subgroups without keys).
    const Case cases[] = {{4, 4, 8, 0, 5}, {8, 2, 32, 300, 1}, {6, 1, 20, 7, 9}, {4, 2, 64, 0, 1}, {2, 2, 128, 999, 1}, {2, 1, 64, 2, 3}};
    // f16 caches (attention_f16): rows [0, pos0) as f16 in the caches (rows [pos0, n_keys) hold
    // NaNs there that the kernel must overwrite, not read), the dispatch's rows as f32 in k_new /
    // v_new; K / V values f16-representable in both modes, so the reference is the same.
    for (const bool f16 : {false, true})
    for (const auto& m : modes())
        for (const auto& cs : cases) {
            if (m.tuned) continue;
            const uint32 kv_dim = cs.n_head_kv * cs.head_dim, q_dim = cs.n_head * cs.head_dim;
            const uint32 n_keys = cs.pos0 + cs.n_tokens;
            auto kv = random_values(size_t(n_keys) * kv_dim, 21), vv = random_values(size_t(n_keys) * kv_dim, 22);
            for (auto* a : {&kv, &vv})
                for (float& x : *a) x = f16_to_f32(f32_to_f16(x));
            auto qv = random_values(size_t(cs.n_tokens) * q_dim, 23);
            std::vector<uint16> kh(kv.size()), vh(vv.size());
            for (size_t i = 0; i < kv.size(); ++i) {
                const bool old_row = i < size_t(cs.pos0) * kv_dim;
                kh[i] = old_row ? f32_to_f16(kv[i]) : 0x7E00;  // f16 NaN
                vh[i] = old_row ? f32_to_f16(vv[i]) : 0x7E00;
            }
            auto k = f16 ? env->upload(kh.data(), kh.size() * 2) : env->upload(kv.data(), kv.size() * 4);
            auto v = f16 ? env->upload(vh.data(), vh.size() * 2) : env->upload(vv.data(), vv.size() * 4);
            const size_t new0 = size_t(cs.pos0) * kv_dim;
            auto kn = env->upload(kv.data() + new0, (kv.size() - new0) * 4), vn = env->upload(vv.data() + new0, (vv.size() - new0) * 4);
            auto q = env->upload(qv.data(), qv.size() * 4);
            auto o = env->buffer(cs.n_tokens * q_dim * 4);
            AttentionShape sh{cs.n_tokens, cs.pos0, cs.n_head, cs.n_head_kv, cs.head_dim};
            env->run(m.spec, [&](OpContext& c) {
                return op_attention(c, sh, env->act(q, q_dim), k.buffer, v.buffer, env->act(o, q_dim), f16 ? kn.buffer : VK_NULL_HANDLE,
                                    f16 ? vn.buffer : VK_NULL_HANDLE);
            });
            auto got = env->download(o, cs.n_tokens * q_dim);
            if (f16) {  // the dispatch's rows were stored into the caches
                std::vector<uint16> kc(kh.size()), vc(vh.size());
                env->download_bytes(k, kc.data(), kc.size() * 2);
                env->download_bytes(v, vc.data(), vc.size() * 2);
                for (size_t i = 0; i < kc.size(); ++i) {
                    ASSERT_EQ(kc[i], f32_to_f16(kv[i])) << m.name << " K cache element " << i << " pos0 " << cs.pos0;
                    ASSERT_EQ(vc[i], f32_to_f16(vv[i])) << m.name << " V cache element " << i << " pos0 " << cs.pos0;
                }
            }
            std::vector<double> want(cs.n_tokens * q_dim);
            for (uint32 t = 0; t < cs.n_tokens; ++t)
                for (uint32 h = 0; h < cs.n_head; ++h) {
                    const uint32 kvh = h / (cs.n_head / cs.n_head_kv), nk = cs.pos0 + t + 1;
                    std::vector<double> s(nk);
                    double mx = -1e300;
                    for (uint32 j = 0; j < nk; ++j) {
                        double d = 0;
                        for (uint32 e = 0; e < cs.head_dim; ++e)
                            d += double(qv[t * q_dim + h * cs.head_dim + e]) * kv[j * kv_dim + kvh * cs.head_dim + e];
                        s[j] = d / std::sqrt(double(cs.head_dim));
                        mx = std::max(mx, s[j]);
                    }
                    double l = 0;
                    for (auto& x : s) l += (x = std::exp(x - mx));
                    for (uint32 e = 0; e < cs.head_dim; ++e) {
                        double acc = 0;
                        for (uint32 j = 0; j < nk; ++j) acc += s[j] * vv[j * kv_dim + kvh * cs.head_dim + e];
                        want[t * q_dim + h * cs.head_dim + e] = acc / l;
                    }
                }
            EXPECT_LT(nmse(got, want), 1e-10) << m.name << (f16 ? " f16 KV" : " f32 KV") << " heads " << cs.n_head << "/" << cs.n_head_kv
                                              << " hd " << cs.head_dim << " pos0 " << cs.pos0 << " n " << cs.n_tokens;
        }
}

TEST(VulkanOps, ResidualAdd) {
    VKS_REQUIRE_VULKAN();
    for (uint32 n : {1u, 255u, 1000u}) {
        auto xv = random_values(n, 1), yv = random_values(n + 2, 2);
        auto x = env->upload(xv.data(), n * 4), y = env->upload(yv.data(), (n + 2) * 4);
        env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_add(c, env->act(x, 0), env->act(y, 0, 2), n); });
        auto got = env->download(y, n + 2);
        EXPECT_EQ(got[0], yv[0]);
        EXPECT_EQ(got[1], yv[1]);
        for (uint32 i = 0; i < n; ++i) ASSERT_EQ(got[i + 2], yv[i + 2] + xv[i]) << i;
    }
}

TEST(VulkanOps, RopeRejectsPieceOffHeadBoundary) {
    VKS_REQUIRE_VULKAN();
    auto wv = random_values(32 * 8, 1);
    auto w = env->weight(wv, 32, 8, DType::F32, {10});
    auto x = env->buffer(8 * 4), y = env->buffer(32 * 4);
    auto tab = rope_table(1, 16, 10000.0f, 1.0f);
    auto tb = env->upload(tab.data(), tab.size() * 4);
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    env->rt->begin(*cmd);
    OpContext c = env->ctx(ShaderSpecialization{});
    auto r = op_matmul_rope(c, w, env->act(x, 8), env->act(y, 32), 1, RopeConfig{0, 16, 16, false, 10000.0f, 1.0f, tb.buffer});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Unsupported);
    ASSERT_TRUE(env->compute->submit_and_wait());
}

// op_copy (copy.comp): exact bytes, from device memory and from imported host memory (the
// streaming source), at offsets, with fewer workgroups than the range needs (the strided loop
// and its 4-load unrolled part both run), without touching bytes around the range.
TEST(VulkanOps, CopyExactWithStridedWorkgroups) {
    VKS_REQUIRE_VULKAN();
    const uint64 align = std::max<uint64>(env->dev->caps().min_storage_buffer_offset_alignment, 16);
    for (uint64 bytes : {uint64(16), uint64(16) * 1000 + 48, uint64(1) << 20}) {
        for (uint32 groups : {1u, 3u}) {
            std::vector<float> sv = random_values(uint32((bytes + 2 * align) / 4), 7), dv = random_values(uint32((bytes + 2 * align) / 4), 8);
            GpuBuffer src = env->upload(sv.data(), sv.size() * 4), dst = env->upload(dv.data(), dv.size() * 4);
            // src bytes [align, align + bytes) -> dst bytes [2 align, 2 align + bytes)
            env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_copy(c, src.buffer, align, dst.buffer, 2 * align, bytes, groups); });
            auto got = env->download(dst, dv.size());
            for (size_t i = 0; i < got.size(); ++i) {
                const uint64 at = i * 4;
                const float want = at >= 2 * align && at < 2 * align + bytes ? sv[(at - align) / 4] : dv[i];
                ASSERT_EQ(std::memcmp(&got[i], &want, 4), 0) << "bytes " << bytes << " groups " << groups << " at " << at;
            }
        }
    }
    // From imported host memory (VK_EXT_external_memory_host), where the device has it.
    if (!env->dev->caps().external_memory_host) GTEST_SKIP() << "no VK_EXT_external_memory_host: the device-memory cases ran";
    const uint64 ia = std::max<uint64>(env->dev->caps().min_imported_host_pointer_alignment, 4096), bytes = 4 * ia;
    void* host = nullptr;
    ASSERT_EQ(posix_memalign(&host, ia, bytes), 0);
    for (uint64 i = 0; i < bytes; ++i) static_cast<uint8*>(host)[i] = uint8(i * 131 + 7);
    auto im = env->mem->import_host(host, bytes);
    ASSERT_TRUE(im) << im.error().message;
    GpuBuffer dst = env->buffer(bytes);
    env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_copy(c, im->buffer, 0, dst.buffer, 0, bytes, 2); });
    std::vector<uint8> got(bytes);
    ASSERT_TRUE(env->compute->download(dst, 0, got.data(), bytes));
    EXPECT_EQ(std::memcmp(got.data(), host, bytes), 0);
    env->mem->release_import(*im);
    std::free(host);
}

TEST(VulkanOps, CopyRejectsUnalignedSize) {
    VKS_REQUIRE_VULKAN();
    GpuBuffer a = env->buffer(256), b = env->buffer(256);
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    env->rt->begin(*cmd);
    OpContext c = env->ctx(ShaderSpecialization{});
    auto r = op_copy(c, a.buffer, 0, b.buffer, 0, 40, 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    ASSERT_TRUE(env->compute->submit_and_wait());
}
