// The streamed-cache attention op (attention_flash.comp's STREAM variant, StreamedKvAttention.h)
// against the CPU attention (cpu::attention_head): a batch of n rows at positions [pos0,
// pos0 + n) attends over cached keys [0, pos0) given chunk by chunk (each chunk its own buffer
// of f16 bits or f32 rows, as the scratch holds it), the online softmax carried in the state
// buffer, then over its own f32 rows (causal), finishing into out. Odd chunk sizes (a last
// chunk shorter than the others), one chunk, no chunk (pos0 = 0), GQA / MQA / MHA, head dims 8
// .. 128, soft-caps, both sides of the 32-row query blocks. Threshold as the flash kernel's test
// (both sides f32 in different orders): NMSE 1e-9, which a dropped chunk or a wrong rescale fails.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "VulkanTestEnv.h"
#include "backend/cpu/CpuKernels.h"
#include "backend/vulkan/StreamedKvAttention.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

struct Case {
    uint32 n_head, n_head_kv, head_dim, pos0, n_tokens, chunk;
    float softcap = 0.0f;
};

std::string describe(const Case& c, bool f16) {
    return std::string(f16 ? "f16" : "f32") + " heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " hd " +
           std::to_string(c.head_dim) + " pos0 " + std::to_string(c.pos0) + " n " + std::to_string(c.n_tokens) + " chunk " +
           std::to_string(c.chunk) + " softcap " + std::to_string(c.softcap);
}

// K / V of every position (f16-representable: the cache's values) and the batch's q rows.
struct Inputs {
    uint32 kv_dim, q_dim;
    std::vector<float> k, v, q;  // (pos0 + n, kv_dim), (n, q_dim)
};

Inputs make_inputs(const Case& c) {
    Inputs in{c.n_head_kv * c.head_dim, c.n_head * c.head_dim, {}, {}, {}};
    const uint32 n_pos = c.pos0 + c.n_tokens;
    in.k = random_values(size_t(n_pos) * in.kv_dim, 41 + n_pos);
    in.v = random_values(size_t(n_pos) * in.kv_dim, 42 + n_pos);
    for (auto* a : {&in.k, &in.v})
        for (float& x : *a) x = f16_bits_to_f32(f32_to_f16_bits(x));
    in.q = random_values(size_t(c.n_tokens) * in.q_dim, 43 + n_pos, 2.0f);
    return in;
}

std::vector<double> cpu_attention(const Case& c, const Inputs& in) {
    const uint32 hd = c.head_dim;
    std::vector<double> want(size_t(c.n_tokens) * in.q_dim);
    std::vector<float> scores(c.pos0 + c.n_tokens), out(hd);
    for (uint32 t = 0; t < c.n_tokens; ++t)
        for (uint32 h = 0; h < c.n_head; ++h) {
            const size_t kvo = size_t(h / (c.n_head / c.n_head_kv)) * hd;
            cpu::AttentionArgs a;
            a.q = in.q.data() + size_t(t) * in.q_dim + h * hd;
            a.runs[0] = cpu::KvRun{in.k.data() + kvo, in.v.data() + kvo, c.pos0 + t + 1};
            a.kv_stride = in.kv_dim;
            a.head_dim = hd;
            a.scale = 1.0f / std::sqrt(float(hd));
            a.softcap = c.softcap;
            a.scores = scores.data();
            a.out = out.data();
            cpu::attention_head(a);
            for (uint32 e = 0; e < hd; ++e) want[size_t(t) * in.q_dim + h * hd + e] = out[e];
        }
    return want;
}

// Rows [lo, hi) of K or V as the scratch holds them: f16 bits or f32.
GpuBuffer chunk_rows(VulkanEnv& env, const std::vector<float>& rows, uint32 kv_dim, uint32 lo, uint32 hi, bool f16) {
    const size_t a = size_t(lo) * kv_dim, b = size_t(hi) * kv_dim;
    if (!f16) return env.upload(rows.data() + a, (b - a) * 4);
    std::vector<uint16> h(b - a);
    for (size_t i = a; i < b; ++i) h[i - a] = f32_to_f16_bits(rows[i]);
    return env.upload(h.data(), h.size() * 2);
}

std::vector<float> gpu_attention(VulkanEnv& env, const Case& c, const Inputs& in, bool f16) {
    std::vector<GpuBuffer> ks, vs;
    for (uint32 lo = 0; lo < c.pos0; lo += c.chunk) {
        const uint32 hi = std::min(c.pos0, lo + c.chunk);
        ks.push_back(chunk_rows(env, in.k, in.kv_dim, lo, hi, f16));
        vs.push_back(chunk_rows(env, in.v, in.kv_dim, lo, hi, f16));
    }
    auto kn = chunk_rows(env, in.k, in.kv_dim, c.pos0, c.pos0 + c.n_tokens, false);
    auto vn = chunk_rows(env, in.v, in.kv_dim, c.pos0, c.pos0 + c.n_tokens, false);
    auto q = env.upload(in.q.data(), in.q.size() * 4);
    std::vector<float> init(in.q.size(), 7.0f), state(size_t(c.n_tokens) * c.n_head * (c.head_dim + 2), 5.0f);
    auto o = env.upload(init.data(), init.size() * 4);
    auto st = env.upload(state.data(), state.size() * 4);  // garbage: the first dispatch must not read it
    AttentionShape sh{c.n_tokens, c.pos0, c.n_head, c.n_head_kv, c.head_dim};
    sh.softcap = c.softcap;
    env.run(ShaderSpecialization{}, [&](OpContext& ctx) -> ExpectedVoid {
        EXPECT_TRUE(stream_supported(ctx, sh)) << describe(c, f16);
        for (uint32 i = 0; i < ks.size(); ++i) {
            const StreamChunk ch{i * c.chunk, std::min(c.pos0, (i + 1) * c.chunk), f16, i > 0, false};
            VKS_TRY(op_attention_stream(ctx, sh, ch, env.act(q, in.q_dim), ks[i].buffer, vs[i].buffer, st.buffer, env.act(o, in.q_dim)));
            ctx.rt.barrier();
        }
        const StreamChunk own{c.pos0, c.pos0 + c.n_tokens, false, !ks.empty(), true};
        return op_attention_stream(ctx, sh, own, env.act(q, in.q_dim), kn.buffer, vn.buffer, st.buffer, env.act(o, in.q_dim));
    });
    return env.download(o, in.q.size());
}

void check_case(VulkanEnv& env, const Case& c) {
    const Inputs in = make_inputs(c);
    const auto want = cpu_attention(c, in);
    for (const bool f16 : {false, true}) EXPECT_LT(nmse(gpu_attention(env, c, in, f16), want), 1e-9) << describe(c, f16);
}

}  // namespace

// A 7B-shaped head (128 dims, GQA 4:1): chunks of 37 keys (the last shorter), one chunk, none;
// batches on both sides of a 32-row block.
TEST(VulkanStreamedAttention, ChunksOfTheCachedKeysMatchTheCpu) {
    VKS_REQUIRE_VULKAN();
    const Case cases[] = {{8, 2, 128, 100, 33, 37}, {8, 2, 128, 37, 64, 37}, {8, 2, 128, 20, 31, 1024}, {8, 2, 128, 0, 40, 1024},
                          {8, 2, 128, 300, 2, 64}};
    for (const auto& c : cases) check_case(*env, c);
}

// Head shapes of the reference models (MHA, MQA; 8 .. 64 dims) and soft-capped scores.
TEST(VulkanStreamedAttention, HeadShapesAndSoftcapsMatchTheCpu) {
    VKS_REQUIRE_VULKAN();
    const Case cases[] = {{4, 4, 64, 50, 17, 16}, {4, 1, 64, 70, 48, 32}, {6, 3, 20, 9, 9, 4}, {8, 8, 8, 65, 70, 33},
                          {8, 4, 64, 90, 40, 40, 50.0f}};
    for (const auto& c : cases) check_case(*env, c);
}

// Shapes the flash kernel cannot run are refused (the layer then attends on the host).
TEST(VulkanStreamedAttention, UnsupportedShapesAreRefused) {
    VKS_REQUIRE_VULKAN();
    OpContext c = env->ctx(ShaderSpecialization{});
    EXPECT_FALSE(stream_supported(c, AttentionShape{64, 0, 4, 4, 256}));
    EXPECT_FALSE(stream_supported(c, AttentionShape{64, 0, 4, 4, 6}));
    AttentionShape window{64, 0, 4, 4, 64};
    window.window = 16;
    EXPECT_FALSE(stream_supported(c, window));
    EXPECT_TRUE(stream_supported(c, AttentionShape{64, 0, 4, 4, 64}));
}
