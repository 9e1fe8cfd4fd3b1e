// Split-K ("flash decoding") attention (SplitKAttention: attention.comp's SPLIT_K variant, then
// attention_merge.comp) against the CPU's attention (cpu::attention_head, the exact function) and
// against op_attention's one workgroup per head: contexts past 4,096 keys and of odd lengths, MHA,
// GQA and MQA, head dims on the subgroup path and off it (20), f32 and f16 caches (whose new rows
// the chunk-0 workgroups store), several rows (one of them with an empty last chunk), and
// soft-capped sliding windows over wrapped rings. NMSE 1e-9 as the other attention tests (f32
// accumulation order). The plan (split_k_plan) and the partials' size are checked without a device.
#include <gtest/gtest.h>

#include <cmath>

#include "VulkanTestEnv.h"
#include "backend/cpu/CpuKernels.h"
#include "backend/vulkan/SplitKAttention.h"
#include "common/HalfFloat.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

struct Case {
    uint32 n_head, n_head_kv, head_dim, pos0, n_tokens, window;
    float softcap;
};

struct Mode {
    ShaderSpecialization spec;
    const char* name;
};

std::vector<Mode> modes() {
    ShaderSpecialization plain;  // shared-memory path (lavapipe's subgroups of 8 take it for 128 dims anyway)
    plain.use_subgroup_ops = false;
    plain.use_fp16_math = false;
    ShaderSpecialization odd;  // 40 invocations: partial subgroups
    odd.workgroup_size_x = 8;
    odd.workgroup_size_y = 5;
    return {{ShaderSpecialization{}, "16x16 sg"}, {plain, "shared"}, {odd, "8x5"}};
}

// One case's values and device buffers: K / V of every position (f16-representable) laid out in
// the cache (a ring of `rows` rows with a window, position p at row p % rows), the dispatch's rows
// also as f32 new rows, and Q.
struct KvCase {
    Case cs;
    uint32 rows = 0, kv_dim = 0, q_dim = 0;
    std::vector<float> kv, vv, qv, kr, vr;  // positions' K / V, Q, the cache images (f32)
    std::vector<uint16> kh, vh;             // the f16 cache images: rows [pos0, ...) NaN until stored
};

KvCase make_setup(const Case& cs) {
    KvCase s{cs, 0, cs.n_head_kv * cs.head_dim, cs.n_head * cs.head_dim, {}, {}, {}, {}, {}, {}, {}};
    const uint32 n_pos = cs.pos0 + cs.n_tokens;
    s.rows = cs.window ? cs.window - 1 + cs.n_tokens + 1 : n_pos;
    s.kv = random_values(size_t(n_pos) * s.kv_dim, 91);
    s.vv = random_values(size_t(n_pos) * s.kv_dim, 92);
    for (auto* a : {&s.kv, &s.vv})
        for (float& x : *a) x = f16_to_f32(f32_to_f16(x));
    s.qv = random_values(size_t(cs.n_tokens) * s.q_dim, 93, 2.0f);
    s.kr.assign(size_t(s.rows) * s.kv_dim, 0.0f);
    s.vr = s.kr;
    s.kh.assign(s.kr.size(), 0x7E00);
    s.vh = s.kh;
    for (uint32 p = n_pos > s.rows ? n_pos - s.rows : 0; p < n_pos; ++p)
        for (uint32 e = 0; e < s.kv_dim; ++e) {
            const size_t at = size_t(p % s.rows) * s.kv_dim + e, src = size_t(p) * s.kv_dim + e;
            s.kr[at] = s.kv[src];
            s.vr[at] = s.vv[src];
            if (p < cs.pos0) {
                s.kh[at] = f32_to_f16(s.kv[src]);
                s.vh[at] = f32_to_f16(s.vv[src]);
            }
        }
    return s;
}

AttentionShape shape_of(const KvCase& s) {
    AttentionShape sh{s.cs.n_tokens, s.cs.pos0, s.cs.n_head, s.cs.n_head_kv, s.cs.head_dim};
    sh.softcap = s.cs.softcap;
    sh.window = s.cs.window;
    sh.kv_rows = s.cs.window ? s.rows : 0;
    return sh;
}

// The CPU's attention of every (row, head) over the window's runs of the ring.
std::vector<double> cpu_attention(const KvCase& s) {
    const Case& cs = s.cs;
    std::vector<float> want(size_t(cs.n_tokens) * s.q_dim), scores(s.rows);
    for (uint32 t = 0; t < cs.n_tokens; ++t)
        for (uint32 h = 0; h < cs.n_head; ++h) {
            const uint32 p = cs.pos0 + t, first = cs.window && p + 1 > cs.window ? p + 1 - cs.window : 0;
            const uint32 g = h / (cs.n_head / cs.n_head_kv), hd = cs.head_dim;
            const uint32 n_kv = p - first + 1, r0 = first % s.rows, n0 = std::min(n_kv, s.rows - r0);
            cpu::AttentionArgs a;
            a.q = s.qv.data() + size_t(t) * s.q_dim + h * hd;
            a.runs[0] = {s.kr.data() + size_t(r0) * s.kv_dim + g * hd, s.vr.data() + size_t(r0) * s.kv_dim + g * hd, n0};
            a.runs[1] = {s.kr.data() + g * hd, s.vr.data() + g * hd, n_kv - n0};
            a.kv_stride = s.kv_dim;
            a.head_dim = hd;
            a.scale = 1.0f / std::sqrt(float(hd));
            a.softcap = cs.softcap;
            a.scores = scores.data();
            a.out = want.data() + size_t(t) * s.q_dim + h * hd;
            cpu::attention_head(a, cpu::KernelPath::Scalar);
        }
    return std::vector<double>(want.begin(), want.end());
}

// Runs the case on the device (split-K with `plan`, or op_attention where !plan.split()) and
// returns the output; with f16 caches also checks that the dispatch's rows were stored.
std::vector<float> run_case(VulkanEnv& env, const KvCase& s, const Mode& m, bool f16, const SplitKPlan& plan) {
    const Case& cs = s.cs;
    auto k = f16 ? env.upload(s.kh.data(), s.kh.size() * 2) : env.upload(s.kr.data(), s.kr.size() * 4);
    auto v = f16 ? env.upload(s.vh.data(), s.vh.size() * 2) : env.upload(s.vr.data(), s.vr.size() * 4);
    const size_t new0 = size_t(cs.pos0) * s.kv_dim;
    auto kn = env.upload(s.kv.data() + new0, (s.kv.size() - new0) * 4), vn = env.upload(s.vv.data() + new0, (s.vv.size() - new0) * 4);
    auto q = env.upload(s.qv.data(), s.qv.size() * 4);
    auto o = env.buffer(size_t(cs.n_tokens) * s.q_dim * 4);
    const AttentionShape sh = shape_of(s);
    const uint64 pb = split_k_partials_bytes(cs.n_head, cs.head_dim, cs.n_tokens, cs.pos0 + cs.n_tokens);
    auto part = env.buffer(std::max<uint64>(pb, 16));
    const VkBuffer knb = f16 ? kn.buffer : VK_NULL_HANDLE, vnb = f16 ? vn.buffer : VK_NULL_HANDLE;
    env.run(m.spec, [&](OpContext& c) {
        if (!plan.split()) return op_attention(c, sh, env.act(q, s.q_dim), k.buffer, v.buffer, env.act(o, s.q_dim), knb, vnb);
        return op_attention_split_k(c, sh, plan, env.act(q, s.q_dim), k.buffer, v.buffer, env.act(o, s.q_dim), part.buffer, knb, vnb);
    });
    if (f16) {
        std::vector<uint16> kc(s.kh.size()), vc(s.vh.size());
        env.download_bytes(k, kc.data(), kc.size() * 2);
        env.download_bytes(v, vc.data(), vc.size() * 2);
        for (uint32 p = cs.pos0; p < cs.pos0 + cs.n_tokens; ++p)
            for (uint32 e = 0; e < s.kv_dim; ++e) {
                const size_t at = size_t(p % s.rows) * s.kv_dim + e, src = size_t(p) * s.kv_dim + e;
                EXPECT_EQ(kc[at], f32_to_f16(s.kv[src])) << "K of position " << p;
                EXPECT_EQ(vc[at], f32_to_f16(s.vv[src])) << "V of position " << p;
                if (kc[at] != f32_to_f16(s.kv[src])) return {};
            }
    }
    return env.download(o, size_t(cs.n_tokens) * s.q_dim);
}

}  // namespace

TEST(VulkanSplitK, MatchesTheCpuAttentionAndTheOneWorkgroupKernel) {
    VKS_REQUIRE_VULKAN();
    const Case cases[] = {
        {8, 2, 128, 4200, 1, 0, 0.0f},    // a 7B-like GQA head past 4,096 keys: 33 chunks of 128
        {4, 4, 64, 5000, 3, 0, 0.0f},     // MHA, three rows
        {6, 1, 20, 4097, 1, 0, 0.0f},     // MQA, 20 dims: the shared-memory path
        {4, 2, 48, 777, 2, 0, 0.0f},      // odd length, 7 chunks, the last one partial
        {4, 2, 32, 9000, 1, 0, 0.0f},     // past 8,192 keys: 64 chunks of 141
        {4, 2, 32, 127, 3, 0, 0.0f},      // 128..130 keys: row 0's second chunk is empty
        {4, 2, 48, 6000, 1, 1000, 5.0f},  // soft-capped sliding window over a wrapped ring
        {4, 2, 32, 4500, 4, 300, 3.0f},   // the same, four rows
    };
    for (const Case& cs : cases) {
        const KvCase s = make_setup(cs);
        const SplitKPlan plan = split_k_plan(shape_of(s), split_k_chunk_keys(128, cs.pos0 + cs.n_tokens));
        ASSERT_TRUE(plan.split()) << "pos0 " << cs.pos0;
        const std::vector<double> want = cpu_attention(s);
        for (const bool f16 : {false, true})
            for (const Mode& m : modes()) {
                const std::string what = std::string(m.name) + (f16 ? " f16 KV" : " f32 KV") + " heads " + std::to_string(cs.n_head) + "/" +
                                         std::to_string(cs.n_head_kv) + " hd " + std::to_string(cs.head_dim) + " pos0 " +
                                         std::to_string(cs.pos0) + " n " + std::to_string(cs.n_tokens) + " chunks " + std::to_string(plan.n_chunks);
                const std::vector<float> split = run_case(*env, s, m, f16, plan);
                const std::vector<float> one = run_case(*env, s, m, f16, SplitKPlan{});
                ASSERT_EQ(split.size(), want.size()) << what;
                EXPECT_LT(nmse(split, want), 1e-9) << what;
                EXPECT_LT(nmse(split, std::vector<double>(one.begin(), one.end())), 1e-9) << what << " (vs op_attention)";
            }
    }
}

// Query heads from head_begin (the GPU's heads of a hybrid rows split) leave the others' output alone.
TEST(VulkanSplitK, HeadBeginWritesOnlyItsHeads) {
    VKS_REQUIRE_VULKAN();
    const KvCase s = make_setup({8, 4, 64, 3000, 1, 0, 0.0f});
    AttentionShape sh = shape_of(s);
    sh.head_begin = 4;
    const SplitKPlan plan = split_k_plan(sh, 128);
    ASSERT_TRUE(plan.split());
    auto k = env->upload(s.kr.data(), s.kr.size() * 4), v = env->upload(s.vr.data(), s.vr.size() * 4);
    auto q = env->upload(s.qv.data(), s.qv.size() * 4);
    const std::vector<float> sentinel(s.q_dim, 7.0f);
    auto o = env->upload(sentinel.data(), sentinel.size() * 4);
    auto part = env->buffer(split_k_partials_bytes(8, 64, 1, 3001));
    env->run(ShaderSpecialization{}, [&](OpContext& c) {
        return op_attention_split_k(c, sh, plan, env->act(q, s.q_dim), k.buffer, v.buffer, env->act(o, s.q_dim), part.buffer);
    });
    const std::vector<float> got = env->download(o, s.q_dim);
    const std::vector<double> want = cpu_attention(s);
    for (uint32 i = 0; i < 4 * 64; ++i) ASSERT_EQ(got[i], 7.0f) << "element " << i << " of a CPU head";
    const std::vector<float> mine(got.begin() + 4 * 64, got.end());
    EXPECT_LT(nmse(mine, std::vector<double>(want.begin() + 4 * 64, want.end())), 1e-9);
}

// Rows of a batch equal the same rows alone bit for bit (a speculative verification equals its
// one-row passes): chunk boundaries do not depend on the batch, a row of one chunk (alone:
// op_attention) merges to op_attention's output, empty chunks add exact zeros. Rows on both
// sides of chunk boundaries, f32 and f16 caches.
TEST(VulkanSplitK, RowsOfABatchEqualTheRowsAloneBitForBit) {
    VKS_REQUIRE_VULKAN();
    const uint32 chunk = 128;
    for (const uint32 pos0 : {126u, 254u, 1000u})
        for (const bool f16 : {false, true}) {
            const KvCase batch = make_setup({4, 2, 64, pos0, 3, 0, 0.0f});
            const SplitKPlan plan = split_k_plan(shape_of(batch), chunk);
            ASSERT_TRUE(plan.split());
            const std::vector<float> all = run_case(*env, batch, modes()[0], f16, plan);
            ASSERT_EQ(all.size(), size_t(3) * batch.q_dim);
            for (uint32 t = 0; t < 3; ++t) {
                KvCase one = batch;  // row t alone: the rows before it are in the caches
                one.cs.pos0 = pos0 + t;
                one.cs.n_tokens = 1;
                one.qv.assign(batch.qv.begin() + size_t(t) * batch.q_dim, batch.qv.begin() + size_t(t + 1) * batch.q_dim);
                for (size_t i = size_t(pos0 + t) * batch.kv_dim; i < batch.kh.size(); ++i) one.kh[i] = one.vh[i] = 0x7E00;
                for (size_t i = size_t(pos0) * batch.kv_dim; i < size_t(pos0 + t) * batch.kv_dim; ++i) {
                    one.kh[i] = f32_to_f16(batch.kv[i]);
                    one.vh[i] = f32_to_f16(batch.vv[i]);
                }
                one.kv.resize(size_t(pos0 + t + 1) * batch.kv_dim);
                one.vv.resize(one.kv.size());
                const std::vector<float> alone = run_case(*env, one, modes()[0], f16, split_k_plan(shape_of(one), chunk));
                ASSERT_EQ(alone.size(), size_t(batch.q_dim));
                for (uint32 i = 0; i < batch.q_dim; ++i)
                    ASSERT_EQ(alone[i], all[size_t(t) * batch.q_dim + i]) << "pos0 " << pos0 << " row " << t << (f16 ? " f16" : " f32") << " element " << i;
            }
        }
}

// The plan: off for option 0 and for batches; one chunk size per context (at least n_ctx / 64
// and 32 keys); rows of one chunk do not split; chunks cover every key; the partials' bytes hold
// every plan up to n_ctx.
TEST(SplitKPlan, ChunksAndPartials) {
    EXPECT_EQ(split_k_chunk_keys(0, 32768), 0u) << "0: off";
    EXPECT_EQ(split_k_chunk_keys(256, 4608), 256u);
    EXPECT_EQ(split_k_chunk_keys(256, 32768), 512u) << "at most 64 chunks";
    EXPECT_EQ(split_k_chunk_keys(1, 100), kSplitKMinChunkKeys);
    AttentionShape s{1, 4999, 32, 8, 128};
    EXPECT_FALSE(split_k_plan(s, 0).split());
    EXPECT_FALSE(split_k_plan(s, 5000).split()) << "5,000 keys in one chunk of 5,000";
    const SplitKPlan p = split_k_plan(s, 128);
    EXPECT_EQ(p.chunk_keys, 128u);
    EXPECT_EQ(p.n_chunks, 40u);
    s.n_tokens = kSplitKMaxTokens + 1;
    EXPECT_FALSE(split_k_plan(s, 128).split()) << "a batch keeps a workgroup per head and row";
    s.n_tokens = 1;
    s.window = 100;
    EXPECT_FALSE(split_k_plan(s, 128).split()) << "a window of 100 keys is one chunk";
    s.window = 0;
    for (const uint32 n_ctx : {100u, 4608u, 32768u, 40000u})
        for (const uint32 option : {1u, 256u, 4096u})
            for (uint32 keys = 1; keys <= n_ctx; keys += 37) {
                s.pos0 = keys - 1;
                const uint32 chunk = split_k_chunk_keys(option, n_ctx);
                const SplitKPlan q = split_k_plan(s, chunk);
                if (!q.split()) {
                    ASSERT_LE(keys, chunk);
                    continue;
                }
                ASSERT_LE(q.n_chunks, kSplitKMaxChunks) << keys << " keys, n_ctx " << n_ctx;
                ASSERT_GE(uint64(q.chunk_keys) * q.n_chunks, keys);
                ASSERT_LT(uint64(q.chunk_keys) * (q.n_chunks - 1), keys) << "no chunk past every row's keys";
                ASSERT_GE(split_k_partials_bytes(32, 128, 1, n_ctx), uint64(q.n_chunks) * 32 * (128 + 2) * 4) << keys << " keys, n_ctx " << n_ctx;
            }
    EXPECT_EQ(split_k_partials_bytes(32, 128, 1, 32), 0u) << "one chunk: no partials";
    EXPECT_EQ(split_k_partials_bytes(32, 128, 64, 32768), uint64(kSplitKMaxTokens) * 32 * 64 * 130 * 4);
}
