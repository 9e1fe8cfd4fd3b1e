// The model-family kernels against the CPU backend's kernels (backend/cpu/CpuKernels), which
// define the exact function: Q/K/V row biases before rope (NeoX, partial rotary, frequency
// factors) and f16 rounding, the GELU-gated FFN, per-head Q/K norms with rope, soft-capped
// sliding-window attention over ring KV caches (f32 and f16), post norms joining the residual,
// and the final soft-cap; each with the matvec (decode) and tiled (batch) paths where both exist.
// Thresholds (NMSE): f32 products 1e-9 (accumulation order, rope angles: the CPU takes them in
// f32, the GPU table in double); f16 products (fp16 math, f16 weights) 1e-5; rounded to f16 1e-6.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "VulkanTestEnv.h"
#include "backend/cpu/CpuKernels.h"
#include "common/HalfFloat.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

struct Mode {
    ShaderSpecialization spec;
    const char* name;
    bool tuned;
};

std::vector<Mode> modes() {
    ShaderSpecialization plain;
    plain.use_subgroup_ops = false;
    plain.use_fp16_math = false;
    return {{ShaderSpecialization{}, "tuned sg+fp16", true}, {plain, "shared+fp32", false}};
}

void apply(OpContext& c, const Mode& m, const VulkanEnv& env) {
    c.tuned_workgroups = m.tuned;
    c.subgroup_size = env.dev->caps().subgroup_size;
}

double threshold(DType t, const Mode& m, const VulkanEnv& env) {
    return t == DType::F16 && env.rt->effective(m.spec).use_fp16_math ? 1e-5 : 1e-9;
}

std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// y[t][r] = sum_k w[r][k] x[t][k] by the CPU's f32 matmul (w: the dtype-rounded values).
std::vector<float> cpu_matmul(const std::vector<float>& w, const std::vector<float>& x, uint32 rows, uint32 cols, uint32 n) {
    std::vector<float> y(size_t(n) * rows);
    cpu::MatmulArgs a;
    a.w = w.data();
    a.rows = rows;
    a.cols = cols;
    a.x = x.data();
    a.x_stride = cols;
    a.n_tok = n;
    a.y = y.data();
    a.y_stride = rows;
    cpu::matmul(a, nullptr, cpu::KernelPath::Scalar);
    return y;
}

float round_f16(float v) { return f16_to_f32(f32_to_f16(v)); }

// Llama 3.1-style divisors for n_rot / 2 pairs (1 for the fast pairs, up to 8 for the slow).
std::vector<float> freq_factors(uint32 n_rot) {
    std::vector<float> f(n_rot / 2);
    for (uint32 i = 0; i < f.size(); ++i) f[i] = 1.0f + 7.0f * float(i) / float(f.size());
    return f;
}

}  // namespace

// Q/K/V biases: added to every token's rows before rope (and rounding), through the plain and
// the rope epilogues, matvec and tiled paths, weights cut into pieces (the bias follows the rows).
TEST(VulkanFamilyOps, BiasBeforeRopeAndRounding) {
    VKS_REQUIRE_VULKAN();
    const uint32 head_dim = 16, n_head = 3, rows = head_dim * n_head, cols = 40, n_rot = 12, pos0 = 4;
    const auto factors = freq_factors(n_rot);
    for (const auto& m : modes())
        for (DType t : {DType::F32, DType::F16, DType::BF16})
            for (uint32 n : {1u, 3u, 12u})
                for (bool rope : {false, true})
                    for (bool round : {false, true}) {
                        auto wv = random_values(size_t(rows) * cols, 31 + n);
                        auto xv = random_values(size_t(n) * cols, 32 + n);
                        auto bv = random_values(rows + 8, 33, 0.5f);  // bias at element 8 of its buffer
                        auto w = env->weight(wv, rows, cols, t, {head_dim});
                        auto x = env->upload(xv.data(), xv.size() * 4);
                        auto bias = env->upload(bv.data(), bv.size() * 4);
                        auto y = env->buffer(size_t(n) * rows * 4);
                        auto tab = rope_table(pos0 + n, n_rot, 1e6f, 0.5f, factors.data());
                        auto tb = env->upload(tab.data(), tab.size() * 4);
                        const RopeConfig rc{pos0, head_dim, n_rot, true, 1e6f, 0.5f, tb.buffer, round};
                        const RowBias rb{bias.buffer, 8};
                        env->run(m.spec, [&](OpContext& c) {
                            apply(c, m, *env);
                            if (rope) return op_matmul_rope(c, w, env->act(x, cols), env->act(y, rows), n, rc, nullptr, &rb);
                            return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false, round, nullptr, &rb);
                        });
                        auto want = cpu_matmul(wv, xv, rows, cols, n);
                        const cpu::RopeParams rp{head_dim, n_rot, 1e6f, 0.5f, RopeStyle::NeoX, factors.data()};
                        for (uint32 tt = 0; tt < n; ++tt) {
                            float* row = want.data() + size_t(tt) * rows;
                            for (uint32 r = 0; r < rows; ++r) row[r] += bv[8 + r];
                            if (rope) cpu::rope(row, n_head, pos0 + tt, rp);
                            if (round)
                                for (uint32 r = 0; r < rows; ++r) row[r] = round_f16(row[r]);
                        }
                        const double limit = round ? std::max(1e-6, threshold(t, m, *env)) : threshold(t, m, *env);
                        EXPECT_LT(nmse(env->download(y, size_t(n) * rows), as_double(want)), limit)
                            << m.name << " " << dtype_name(t) << " n=" << n << (rope ? " rope" : "") << (round ? " rounded" : "");
                    }
}

// A fused norm and a bias together (the decode Q projection of qwen2).
TEST(VulkanFamilyOps, BiasWithFusedNorm) {
    VKS_REQUIRE_VULKAN();
    const uint32 rows = 24, cols = 64, n = 2;
    auto wv = random_values(size_t(rows) * cols, 41), xv = random_values(size_t(n) * cols, 42, 2.0f);
    auto gv = random_values(cols, 43), bv = random_values(rows, 44, 0.5f);
    auto w = env->weight(wv, rows, cols, DType::F32);
    auto x = env->upload(xv.data(), xv.size() * 4), g = env->upload(gv.data(), gv.size() * 4), bias = env->upload(bv.data(), bv.size() * 4);
    auto y = env->buffer(size_t(n) * rows * 4);
    const FusedNorm fn{g.buffer, 0, 1e-6f};
    const RowBias rb{bias.buffer, 0};
    env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_matmul(c, w, env->act(x, cols), env->act(y, rows), n, false, false, &fn, &rb); });
    std::vector<float> xn(xv.size());
    for (uint32 tt = 0; tt < n; ++tt) cpu::rmsnorm(xv.data() + tt * cols, gv.data(), xn.data() + tt * cols, cols, 1e-6f);
    auto want = cpu_matmul(wv, xn, rows, cols, n);
    for (uint32 i = 0; i < want.size(); ++i) want[i] += bv[i % rows];
    EXPECT_LT(nmse(env->download(y, want.size()), as_double(want)), 1e-9);
}

// GELU(tanh)-gated FFN: gelu_tanh(gate x) * (up x), matvec (fused norm too) and tiled paths.
TEST(VulkanFamilyOps, GeluGatedFfn) {
    VKS_REQUIRE_VULKAN();
    const uint32 rows = 36, cols = 48;
    for (const auto& m : modes())
        for (DType t : {DType::F32, DType::F16, DType::BF16})
            for (uint32 n : {1u, 3u, 12u}) {
                auto gv = random_values(size_t(rows) * cols, 51), uv = random_values(size_t(rows) * cols, 52);
                auto xv = random_values(size_t(n) * cols, 53, 2.0f);
                auto gate = env->weight(gv, rows, cols, t, {20}), up = env->weight(uv, rows, cols, t, {20});
                auto x = env->upload(xv.data(), xv.size() * 4);
                auto y = env->buffer(size_t(n) * rows * 4);
                env->run(m.spec, [&](OpContext& c) {
                    apply(c, m, *env);
                    return op_swiglu(c, gate, up, env->act(x, cols), env->act(y, rows), n, nullptr, FfnActivation::GeluTanh);
                });
                auto want = cpu_matmul(gv, xv, rows, cols, n);
                const auto u = cpu_matmul(uv, xv, rows, cols, n);
                cpu::geglu(want.data(), u.data(), want.size());
                EXPECT_LT(nmse(env->download(y, want.size()), as_double(want)), threshold(t, m, *env)) << m.name << " " << dtype_name(t) << " n=" << n;
            }
}

// Q / K head norms: heads [h0, H) of each token normed (CPU rmsnorm over head_dim), then roped
// (normal and NeoX, partial rotary), optionally f16-rounded; heads before h0 and the gap between
// tokens untouched.
TEST(VulkanFamilyOps, HeadNormThenRope) {
    VKS_REQUIRE_VULKAN();
    const uint32 H = 4, h0 = 1, n = 3, pos0 = 6, stride = 4 * 48 + 8;
    for (const auto& m : modes())
        for (uint32 head_dim : {32u, 48u})
            for (bool neox : {false, true})
                for (bool round : {false, true}) {
                    const uint32 n_rot = neox ? head_dim - 8 : head_dim;
                    auto yv = random_values(size_t(n) * stride, 61, 3.0f);
                    auto gv = random_values(head_dim + 4, 62);
                    for (float& g : gv) g += 1.0f;
                    auto y = env->upload(yv.data(), yv.size() * 4), g = env->upload(gv.data(), gv.size() * 4);
                    auto tab = rope_table(pos0 + n, n_rot, 1e4f, 1.0f);
                    auto tb = env->upload(tab.data(), tab.size() * 4);
                    const RopeConfig rc{pos0, head_dim, n_rot, neox, 1e4f, 1.0f, tb.buffer, round};
                    const FusedNorm fn{g.buffer, 4, 1e-6f};
                    env->run(m.spec, [&](OpContext& c) {
                        apply(c, m, *env);
                        return op_head_norm_rope(c, fn, ActView{y.buffer, h0 * head_dim, stride}, H - h0, n, rc);
                    });
                    auto want = yv;
                    const cpu::RopeParams rp{head_dim, n_rot, 1e4f, 1.0f, neox ? RopeStyle::NeoX : RopeStyle::Normal, nullptr};
                    for (uint32 tt = 0; tt < n; ++tt) {
                        float* heads = want.data() + size_t(tt) * stride + h0 * head_dim;
                        for (uint32 h = 0; h < H - h0; ++h) cpu::rmsnorm(heads + h * head_dim, gv.data() + 4, heads + h * head_dim, head_dim, 1e-6f);
                        cpu::rope(heads, H - h0, pos0 + tt, rp);
                        if (round)
                            for (uint32 i = 0; i < (H - h0) * head_dim; ++i) heads[i] = round_f16(heads[i]);
                    }
                    const auto got = env->download(y, yv.size());
                    for (uint32 tt = 0; tt < n; ++tt)
                        for (uint32 i = 0; i < stride; ++i) {
                            if (i >= h0 * head_dim && i < H * head_dim) continue;
                            ASSERT_EQ(got[tt * stride + i], yv[tt * stride + i]) << "untouched element " << i;
                        }
                    EXPECT_LT(nmse(got, as_double(want)), round ? 1e-6 : 1e-9) << m.name << " hd " << head_dim << (neox ? " neox" : " normal")
                                                                              << (round ? " rounded" : "");
                }
}

// Soft-capped, sliding-window attention over ring caches that have wrapped (the CPU's
// attention_head over the window's runs is the reference), f32 caches and f16 caches (whose
// new rows the kernel stores at their ring rows); GQA, head dims of Gemma (48) and 32; one
// token (decode) and a batch.
TEST(VulkanFamilyOps, AttentionSoftcapSlidingWindowRing) {
    VKS_REQUIRE_VULKAN();
    struct Case { uint32 head_dim, n_tokens, pos0, window; float softcap; };
    const Case cases[] = {{48, 1, 23, 5, 5.0f}, {48, 3, 17, 5, 0.0f}, {32, 4, 30, 8, 3.0f}, {32, 2, 2, 8, 5.0f}};
    const uint32 n_head = 4, n_head_kv = 2;
    for (const bool f16 : {false, true})
        for (const auto& m : modes())
            for (const Case& cs : cases) {
                const uint32 hd = cs.head_dim, kv_dim = n_head_kv * hd, q_dim = n_head * hd, n_pos = cs.pos0 + cs.n_tokens;
                const uint32 rows = cs.window - 1 + cs.n_tokens + 1;  // the ring (one spare row)
                auto kv = random_values(size_t(n_pos) * kv_dim, 71), vv = random_values(size_t(n_pos) * kv_dim, 72);
                for (auto* a : {&kv, &vv})
                    for (float& x : *a) x = round_f16(x);
                auto qv = random_values(size_t(cs.n_tokens) * q_dim, 73, 2.0f);
                // The rings: position p at row p % rows, the last `rows` positions; f16 caches hold
                // only the old ones (the new rows are NaN there until the kernel stores them).
                std::vector<float> kr(size_t(rows) * kv_dim), vr(kr.size());
                std::vector<uint16> kh(kr.size(), 0x7E00), vh(kr.size(), 0x7E00);
                for (uint32 p = n_pos > rows ? n_pos - rows : 0; p < n_pos; ++p)
                    for (uint32 e = 0; e < kv_dim; ++e) {
                        const size_t at = size_t(p % rows) * kv_dim + e, src = size_t(p) * kv_dim + e;
                        kr[at] = kv[src];
                        vr[at] = vv[src];
                        if (p < cs.pos0) {
                            kh[at] = f32_to_f16(kv[src]);
                            vh[at] = f32_to_f16(vv[src]);
                        }
                    }
                auto k = f16 ? env->upload(kh.data(), kh.size() * 2) : env->upload(kr.data(), kr.size() * 4);
                auto v = f16 ? env->upload(vh.data(), vh.size() * 2) : env->upload(vr.data(), vr.size() * 4);
                const size_t new0 = size_t(cs.pos0) * kv_dim;
                auto kn = env->upload(kv.data() + new0, (kv.size() - new0) * 4), vn = env->upload(vv.data() + new0, (vv.size() - new0) * 4);
                auto q = env->upload(qv.data(), qv.size() * 4);
                auto o = env->buffer(size_t(cs.n_tokens) * q_dim * 4);
                AttentionShape sh{cs.n_tokens, cs.pos0, n_head, n_head_kv, hd};
                sh.softcap = cs.softcap;
                sh.window = cs.window;
                sh.kv_rows = rows;
                env->run(m.spec, [&](OpContext& c) {
                    return op_attention(c, sh, env->act(q, q_dim), k.buffer, v.buffer, env->act(o, q_dim), f16 ? kn.buffer : VK_NULL_HANDLE,
                                        f16 ? vn.buffer : VK_NULL_HANDLE);
                });
                if (f16) {  // the dispatch's rows are in the rings now
                    std::vector<uint16> kc(kh.size());
                    env->download_bytes(k, kc.data(), kc.size() * 2);
                    for (uint32 p = cs.pos0; p < n_pos; ++p)
                        for (uint32 e = 0; e < kv_dim; ++e)
                            ASSERT_EQ(kc[size_t(p % rows) * kv_dim + e], f32_to_f16(kv[size_t(p) * kv_dim + e])) << "K of position " << p;
                }
                std::vector<float> want(size_t(cs.n_tokens) * q_dim), scores(rows);
                for (uint32 t = 0; t < cs.n_tokens; ++t)
                    for (uint32 h = 0; h < n_head; ++h) {
                        const uint32 p = cs.pos0 + t, first = p + 1 > cs.window ? p + 1 - cs.window : 0, g = h / (n_head / n_head_kv);
                        const uint32 n_kv = p - first + 1, r0 = first % rows, n0 = std::min(n_kv, rows - r0);
                        cpu::AttentionArgs a;
                        a.q = qv.data() + size_t(t) * q_dim + h * hd;
                        a.runs[0] = {kr.data() + size_t(r0) * kv_dim + g * hd, vr.data() + size_t(r0) * kv_dim + g * hd, n0};
                        a.runs[1] = {kr.data() + g * hd, vr.data() + g * hd, n_kv - n0};
                        a.kv_stride = kv_dim;
                        a.head_dim = hd;
                        a.scale = 1.0f / std::sqrt(float(hd));
                        a.softcap = cs.softcap;
                        a.scores = scores.data();
                        a.out = want.data() + size_t(t) * q_dim + h * hd;
                        cpu::attention_head(a, cpu::KernelPath::Scalar);
                    }
                EXPECT_LT(nmse(env->download(o, want.size()), as_double(want)), 1e-9)
                    << m.name << (f16 ? " f16 KV" : " f32 KV") << " hd " << hd << " n " << cs.n_tokens << " pos0 " << cs.pos0 << " cap " << cs.softcap;
            }
}

// A ring too small for the window and the batch is refused, not read wrongly.
TEST(VulkanFamilyOps, AttentionRejectsARingSmallerThanTheWindow) {
    VKS_REQUIRE_VULKAN();
    auto b = env->buffer(4096);
    auto cmd = env->compute->begin();
    ASSERT_TRUE(cmd);
    env->rt->begin(*cmd);
    OpContext c = env->ctx(ShaderSpecialization{});
    AttentionShape sh{4, 20, 2, 1, 8};
    sh.window = 8;
    sh.kv_rows = 10;  // needs window - 1 + 4 = 11
    auto r = op_attention(c, sh, env->act(b, 16), b.buffer, b.buffer, env->act(b, 16));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("ring"), std::string::npos) << r.error().message;
    ASSERT_TRUE(env->compute->submit_and_wait());
}

// Post norms: y += rmsnorm(x) * gamma (gamma at an offset of the vector table).
TEST(VulkanFamilyOps, PostNormJoinsTheResidual) {
    VKS_REQUIRE_VULKAN();
    for (const auto& m : modes())
        for (uint32 n_embd : {64u, 100u}) {
            const uint32 n = 3;
            auto xv = random_values(size_t(n) * n_embd, 81, 4.0f), yv = random_values(size_t(n) * n_embd, 82), gv = random_values(n_embd + 12, 83);
            auto x = env->upload(xv.data(), xv.size() * 4), y = env->upload(yv.data(), yv.size() * 4), g = env->upload(gv.data(), gv.size() * 4);
            env->run(m.spec, [&](OpContext& c) {
                apply(c, m, *env);
                return op_rmsnorm_add(c, FusedNorm{g.buffer, 12, 1e-6f}, env->act(x, n_embd), env->act(y, n_embd), n_embd, n);
            });
            auto want = yv;
            std::vector<float> normed(n_embd);
            for (uint32 t = 0; t < n; ++t) {
                cpu::rmsnorm(xv.data() + size_t(t) * n_embd, gv.data() + 12, normed.data(), n_embd, 1e-6f);
                cpu::add_inplace(want.data() + size_t(t) * n_embd, normed.data(), n_embd);
            }
            EXPECT_LT(nmse(env->download(y, want.size()), as_double(want)), 1e-10) << m.name << " n_embd " << n_embd;
        }
}

// The final logits' soft-cap, from an offset (the GPU's rows of a rows split), the rest untouched.
TEST(VulkanFamilyOps, SoftcapInPlaceFromAnOffset) {
    VKS_REQUIRE_VULKAN();
    for (uint32 n : {1u, 300u, 5000u}) {
        auto yv = random_values(n + 7, 91, 20.0f);
        auto y = env->upload(yv.data(), yv.size() * 4);
        env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_softcap(c, ActView{y.buffer, 7, 0}, n, 3.0f); });
        auto want = yv;
        cpu::softcap(want.data() + 7, n, 3.0f);
        const auto got = env->download(y, yv.size());
        for (uint32 i = 0; i < 7; ++i) ASSERT_EQ(got[i], yv[i]);
        EXPECT_LT(nmse(got, as_double(want)), 1e-12) << "n " << n;
        for (uint32 i = 7; i < got.size(); ++i) ASSERT_LE(std::fabs(got[i]), 3.0f) << i;
    }
}

// Mixture of experts (moe.comp): the gather copies the table's rows exactly; the combine adds to
// each token's row its k weighted expert rows, summed first in table order as the CPU sums them
// (MoeFfn: out = 0, += w y per expert ascending, then the residual), from element offsets.
TEST(VulkanFamilyOps, MoeGatherAndCombineFollowTheTable) {
    VKS_REQUIRE_VULKAN();
    for (uint32 n : {1u, 5u}) {
        const uint32 E = 100, k = 2, rows = n * k, off = 3 * E;
        auto xv = random_values(off + size_t(n) * E, 101), yv = random_values(off + size_t(rows) * E, 102);
        // Gather rows: token (r * 3 + 1) % n for row r; combine pairs: token t's j-th row, weight.
        std::vector<uint32> tab(rows + 2 * rows);
        for (uint32 r = 0; r < rows; ++r) tab[r] = (r * 3 + 1) % n;
        for (uint32 t = 0; t < n; ++t)
            for (uint32 j = 0; j < k; ++j) {
                tab[rows + 2 * (t * k + j)] = (t * k + j * 7) % rows;
                const float w = 0.25f + 0.5f * float(j) / float(k) + 0.01f * float(t);
                std::memcpy(&tab[rows + 2 * (t * k + j) + 1], &w, 4);
            }
        auto x = env->upload(xv.data(), xv.size() * 4), g = env->upload(yv.data(), yv.size() * 4), table = env->upload(tab.data(), tab.size() * 4);
        env->run(ShaderSpecialization{}, [&](OpContext& c) { return op_moe_gather(c, ActView{x.buffer, off, E}, ActView{g.buffer, off, E}, E, rows, table.buffer, 0); });
        const auto gathered = env->download(g, yv.size());
        for (uint32 i = 0; i < off; ++i) ASSERT_EQ(gathered[i], yv[i]) << "before the offset: untouched";
        for (uint32 r = 0; r < rows; ++r)
            for (uint32 i = 0; i < E; ++i) ASSERT_EQ(gathered[off + size_t(r) * E + i], xv[off + size_t(tab[r]) * E + i]) << "row " << r;
        // Combine the gathered rows (g) into x's token rows.
        env->run(ShaderSpecialization{}, [&](OpContext& c) {
            return op_moe_combine(c, ActView{g.buffer, off, E}, ActView{x.buffer, off, E}, E, n, k, table.buffer, rows);
        });
        auto want = xv;
        for (uint32 t = 0; t < n; ++t)
            for (uint32 i = 0; i < E; ++i) {
                float acc = 0.0f;
                for (uint32 j = 0; j < k; ++j) {
                    float w;
                    std::memcpy(&w, &tab[rows + 2 * (t * k + j) + 1], 4);
                    acc += w * gathered[off + size_t(tab[rows + 2 * (t * k + j)]) * E + i];
                }
                want[off + size_t(t) * E + i] += acc;
            }
        EXPECT_LT(nmse(env->download(x, want.size()), as_double(want)), 1e-12) << "n " << n;
    }
}
