// The flash prompt-attention kernel (attention_flash.comp, FlashAttention.h) against the CPU
// attention (cpu::attention_head, the reference backend's kernel) and against attention.comp,
// over prompt lengths 1 .. 600 (odd sizes and both sides of the 32-row query blocks and
// 16-key tiles), GQA / MQA / MHA, head dims 8 .. 128, f32 and f16 caches, chunks starting past
// position 0, soft-capped scores, sliding windows over ring caches, and the GPU's heads of a
// row split (head_begin > 0). The tensor-core kernel (attention_flash_coop.comp, --prompt-attn
// coop) runs the f16 cases of 16-dim multiples where the device has cooperative matrices (not
// lavapipe: there the same cases assert the fallback to the scalar flash kernel). Each case
// asserts which kernel ran (kernel profiling).
// Thresholds: both sides compute in f32 in different orders (relative error ~1e-7, NMSE
// ~1e-14; the soft-cap's tanh as 2 / (1 + exp(-2x)) - 1 adds ~1e-11): 1e-9 passes that and
// fails a wrong element or a dropped key (NMSE >= ~1 / elements). The tensor-core kernel rounds
// P to f16 (u = 2^-11: NMSE ~u^2 / 3 = 8e-8): 1e-6, as the tensor-core matmul's test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "FlashTile.h"
#include "VulkanTestEnv.h"
#include "backend/cpu/CpuKernels.h"
#include "backend/vulkan/FlashAttention.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

constexpr double kFlashNmse = 1e-9;
constexpr double kCoopNmse = 1e-6;
constexpr float kUnwritten = 7.0f;  // the output's initial value: heads below head_begin keep it

struct Case {
    uint32 n_head, n_head_kv, head_dim, pos0, n_tokens;
    float softcap = 0.0f;
    uint32 window = 0;
    uint32 head_begin = 0;
};

std::string describe(const Case& c, bool f16) {
    return std::string(f16 ? "f16" : "f32") + " KV heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " hd " +
           std::to_string(c.head_dim) + " pos0 " + std::to_string(c.pos0) + " n " + std::to_string(c.n_tokens) + " softcap " +
           std::to_string(c.softcap) + " window " + std::to_string(c.window) + " head_begin " + std::to_string(c.head_begin);
}

// The inputs of one case: K / V by position (f16-representable values) and the caches as the
// kernel finds them: a ring of kv_rows rows (position j at row j % kv_rows; without a window
// kv_rows = pos0 + n, so row = position). f16: rows of this dispatch's positions hold NaNs the
// kernel must overwrite, not read; f32: they hold the rows already (as the matmul wrote them).
struct Inputs {
    uint32 kv_dim, q_dim, kv_rows;
    std::vector<float> k, v, q;   // (pos0 + n, kv_dim) by position; (n, q_dim)
    std::vector<float> kc, vc;    // (kv_rows, kv_dim) f32 caches
    std::vector<uint16> kh, vh;   // (kv_rows, kv_dim) f16 caches
};

Inputs make_inputs(const Case& c) {
    Inputs in;
    in.kv_dim = c.n_head_kv * c.head_dim;
    in.q_dim = c.n_head * c.head_dim;
    const uint32 n_pos = c.pos0 + c.n_tokens;
    in.kv_rows = c.window > 0 ? std::min(n_pos, c.window - 1 + c.n_tokens) : n_pos;
    in.k = random_values(size_t(n_pos) * in.kv_dim, 31 + n_pos);
    in.v = random_values(size_t(n_pos) * in.kv_dim, 32 + n_pos);
    for (auto* a : {&in.k, &in.v})
        for (float& x : *a) x = f16_bits_to_f32(f32_to_f16_bits(x));
    in.q = random_values(size_t(c.n_tokens) * in.q_dim, 33 + n_pos, 2.0f);
    in.kc.assign(size_t(in.kv_rows) * in.kv_dim, 0.0f);
    in.vc = in.kc;
    in.kh.assign(in.kc.size(), 0x7E00);
    in.vh = in.kh;
    for (uint32 j = n_pos - in.kv_rows; j < n_pos; ++j)
        for (uint32 e = 0; e < in.kv_dim; ++e) {
            const size_t src = size_t(j) * in.kv_dim + e, dst = size_t(j % in.kv_rows) * in.kv_dim + e;
            in.kc[dst] = in.k[src];
            in.vc[dst] = in.v[src];
            if (j < c.pos0) {
                in.kh[dst] = f32_to_f16_bits(in.k[src]);
                in.vh[dst] = f32_to_f16_bits(in.v[src]);
            }
        }
    return in;
}

// The CPU reference: heads [head_begin, n_head) of every row; the others kUnwritten.
std::vector<double> cpu_attention(const Case& c, const Inputs& in) {
    const uint32 hd = c.head_dim;
    std::vector<double> want(size_t(c.n_tokens) * in.q_dim, kUnwritten);
    std::vector<float> scores(c.pos0 + c.n_tokens), out(hd);
    for (uint32 t = 0; t < c.n_tokens; ++t)
        for (uint32 h = c.head_begin; h < c.n_head; ++h) {
            const uint32 qp = c.pos0 + t, first = c.window > 0 && qp + 1 > c.window ? qp + 1 - c.window : 0;
            const size_t kvo = size_t(first) * in.kv_dim + (h / (c.n_head / c.n_head_kv)) * hd;
            cpu::AttentionArgs a;
            a.q = in.q.data() + size_t(t) * in.q_dim + h * hd;
            a.runs[0] = cpu::KvRun{in.k.data() + kvo, in.v.data() + kvo, qp + 1 - first};
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

struct GpuResult {
    std::vector<float> out;
    std::vector<std::string> kernels;  // the shader variants that ran
    std::vector<uint16> kh, vh;        // f16 caches after the dispatch
};

GpuResult gpu_attention(VulkanEnv& env, const Case& c, const Inputs& in, bool f16, PromptAttention how) {
    auto k = f16 ? env.upload(in.kh.data(), in.kh.size() * 2) : env.upload(in.kc.data(), in.kc.size() * 4);
    auto v = f16 ? env.upload(in.vh.data(), in.vh.size() * 2) : env.upload(in.vc.data(), in.vc.size() * 4);
    const size_t new0 = size_t(c.pos0) * in.kv_dim, new_n = size_t(c.n_tokens) * in.kv_dim;
    auto kn = env.upload(in.k.data() + new0, new_n * 4), vn = env.upload(in.v.data() + new0, new_n * 4);
    auto q = env.upload(in.q.data(), in.q.size() * 4);
    std::vector<float> init(in.q.size(), kUnwritten);
    auto o = env.upload(init.data(), init.size() * 4);
    AttentionShape sh{c.n_tokens, c.pos0, c.n_head, c.n_head_kv, c.head_dim, c.head_begin};
    sh.softcap = c.softcap;
    sh.window = c.window;
    sh.kv_rows = c.window > 0 ? in.kv_rows : 0;
    EXPECT_TRUE(env.rt->set_kernel_profiling(true));
    env.rt->reset_kernel_times();
    env.run(ShaderSpecialization{}, [&](OpContext& ctx) {
        ctx.prompt_attention = how;
        return op_attention(ctx, sh, env.act(q, in.q_dim), k.buffer, v.buffer, env.act(o, in.q_dim), f16 ? kn.buffer : VK_NULL_HANDLE,
                            f16 ? vn.buffer : VK_NULL_HANDLE);
    });
    GpuResult r;
    EXPECT_TRUE(env.rt->collect_kernel_times());
    for (const auto& kt : env.rt->kernel_times()) r.kernels.push_back(kt.name);
    EXPECT_TRUE(env.rt->set_kernel_profiling(false));
    r.out = env.download(o, in.q.size());
    if (f16) {
        r.kh.resize(in.kh.size());
        r.vh.resize(in.vh.size());
        env.download_bytes(k, r.kh.data(), r.kh.size() * 2);
        env.download_bytes(v, r.vh.data(), r.vh.size() * 2);
    }
    return r;
}

// The f16 caches after the dispatch: every row of the ring holds its position's K / V in f16.
void expect_caches_stored(const Case& c, const Inputs& in, const GpuResult& r, const char* kernel) {
    const uint32 n_pos = c.pos0 + c.n_tokens;
    for (uint32 j = n_pos - in.kv_rows; j < n_pos; ++j)
        for (uint32 e = 0; e < in.kv_dim; ++e) {
            const size_t src = size_t(j) * in.kv_dim + e, dst = size_t(j % in.kv_rows) * in.kv_dim + e;
            // A row split's GPU part stores its own KV heads only (the CPU stores the others).
            if (j >= c.pos0 && e / c.head_dim < c.head_begin / (c.n_head / c.n_head_kv)) continue;
            ASSERT_EQ(r.kh[dst], f32_to_f16_bits(in.k[src])) << kernel << " K position " << j << " element " << e;
            ASSERT_EQ(r.vh[dst], f32_to_f16_bits(in.v[src])) << kernel << " V position " << j << " element " << e;
        }
}

bool ran(const GpuResult& r, const std::string& variant) {
    return std::find(r.kernels.begin(), r.kernels.end(), variant) != r.kernels.end();
}

// The tensor-core kernel where the device has it (else the scalar flash kernel runs) against the CPU.
void check_coop(VulkanEnv& env, const Case& c, const Inputs& in, const std::vector<double>& want) {
    const auto coop = gpu_attention(env, c, in, true, PromptAttention::Coop);
    const bool has = env.dev->caps().cooperative_matrix;
    EXPECT_TRUE(ran(coop, has ? "attention_flash_coop_f16" : "attention_flash_f16")) << "coop " << describe(c, true);
    EXPECT_LT(nmse(coop.out, want), has ? kCoopNmse : kFlashNmse) << "coop " << describe(c, true);
    expect_caches_stored(c, in, coop, "coop");
}

// One case in both cache dtypes: flash (where it applies: 2 or more rows) and classic against
// the CPU; f16 caches with 16-dim multiples: the tensor-core kernel too.
void check_case(VulkanEnv& env, const Case& c) {
    const Inputs in = make_inputs(c);
    const auto want = cpu_attention(c, in);
    for (const bool f16 : {false, true}) {
        const std::string what = describe(c, f16), dt = f16 ? "f16" : "f32";
        const auto flash = gpu_attention(env, c, in, f16, PromptAttention::Flash);
        const bool flash_ran = ran(flash, "attention_flash_" + dt);
        EXPECT_EQ(flash_ran, c.n_tokens >= 2) << what << ": ran " << (flash.kernels.empty() ? "nothing" : flash.kernels[0]);
        EXPECT_EQ(ran(flash, "attention_" + dt), !flash_ran) << what;
        EXPECT_LT(nmse(flash.out, want), kFlashNmse) << "flash " << what;
        if (f16) expect_caches_stored(c, in, flash, "flash");
        const auto classic = gpu_attention(env, c, in, f16, PromptAttention::Classic);
        EXPECT_TRUE(ran(classic, "attention_" + dt) && !ran(classic, "attention_flash_" + dt)) << what;
        EXPECT_LT(nmse(classic.out, want), kFlashNmse) << "classic " << what;
        if (f16 && c.head_dim % 16 == 0 && c.n_tokens >= 2) check_coop(env, c, in, want);
    }
}

}  // namespace

// Prompt lengths 1 .. 600 from position 0 on a 7B-shaped head (128 dims) with GQA 4:1.
TEST(VulkanFlashAttention, PromptLengthsAroundTheBlocks) {
    VKS_REQUIRE_VULKAN();
    for (uint32 n : {1u, 2u, 3u, 15u, 16u, 17u, 31u, 32u, 33u, 47u, 63u, 64u, 65u, 100u, 127u, 128u, 129u, 255u, 257u, 600u})
        check_case(*env, Case{8, 2, 128, 0, n});
}

// Chunks of a prompt (positions past 0: keys from the caches and from the dispatch's rows),
// over the head dims and groupings of the reference models (MHA, GQA, MQA; 8 .. 128 dims).
TEST(VulkanFlashAttention, ChunksPastPositionZeroAndHeadShapes) {
    VKS_REQUIRE_VULKAN();
    const Case cases[] = {{8, 2, 128, 5, 33}, {8, 2, 128, 37, 64}, {4, 4, 128, 300, 129}, {4, 1, 64, 16, 48},
                          {6, 3, 20, 7, 9},   {8, 8, 8, 19, 2},    {6, 2, 32, 31, 97},    {4, 4, 4, 0, 70}};
    for (const auto& c : cases) check_case(*env, c);
}

// Soft-capped scores and sliding windows over ring caches (the rows of one chunk wrap the
// ring), alone and together; the GPU's heads of a row split.
TEST(VulkanFlashAttention, SoftcapWindowsAndRowSplits) {
    VKS_REQUIRE_VULKAN();
    Case capped{8, 4, 64, 10, 70, 50.0f};
    Case window{4, 2, 32, 100, 65, 0.0f, 24};
    Case both{4, 2, 64, 0, 90, 30.0f, 17};
    Case split{8, 2, 32, 12, 40, 0.0f, 0, 4};
    for (const auto& c : {capped, window, both, split}) check_case(*env, c);
}

// Shapes the flash kernels do not take run attention.comp, whatever the option says: a head
// dim past VKS_FLASH_HD_MAX or not a multiple of 4, one row, a paged pass of several sequences
// (one sequence's chunk runs flash); Auto takes blocks
// of 32 rows or more; Coop needs f16 caches, 16-dim multiples and the device's cooperative
// matrices, and falls back to the scalar flash kernel.
TEST(VulkanFlashAttention, SelectionFollowsTheOptionAndTheShape) {
    VKS_REQUIRE_VULKAN();
    OpContext c = env->ctx(ShaderSpecialization{});
    const AttentionShape big{64, 0, 4, 4, 256}, odd{64, 0, 4, 4, 6}, one{1, 0, 4, 4, 64}, small{31, 0, 4, 4, 64}, block{32, 0, 4, 4, 64},
        hd20{64, 0, 4, 4, 20};
    c.prompt_attention = PromptAttention::Flash;
    EXPECT_EQ(flash_kernel(c, big, true, nullptr), FlashKernel::None);
    EXPECT_EQ(flash_kernel(c, odd, true, nullptr), FlashKernel::None);
    EXPECT_EQ(flash_kernel(c, one, true, nullptr), FlashKernel::None);
    const PagedKv batch{BufferBinding{}, 16, false}, single{BufferBinding{}, 16, true};
    EXPECT_EQ(flash_kernel(c, block, true, &batch), FlashKernel::None);
    EXPECT_EQ(flash_kernel(c, block, true, &single), FlashKernel::Scalar);
    EXPECT_EQ(flash_kernel(c, small, true, nullptr), FlashKernel::Scalar);
    c.prompt_attention = PromptAttention::Auto;
    EXPECT_EQ(flash_kernel(c, small, true, nullptr), FlashKernel::None);
    EXPECT_EQ(flash_kernel(c, block, false, nullptr), FlashKernel::Scalar);
    c.prompt_attention = PromptAttention::Classic;
    EXPECT_EQ(flash_kernel(c, block, true, nullptr), FlashKernel::None);
    c.prompt_attention = PromptAttention::Coop;
    const FlashKernel tc = env->dev->caps().cooperative_matrix ? FlashKernel::Coop : FlashKernel::Scalar;
    EXPECT_EQ(flash_kernel(c, small, true, nullptr), tc);
    EXPECT_EQ(flash_kernel(c, small, false, nullptr), FlashKernel::Scalar);
    EXPECT_EQ(flash_kernel(c, hd20, true, nullptr), FlashKernel::Scalar);
    EXPECT_EQ(flash_kernel(c, big, true, nullptr), FlashKernel::None);
    EXPECT_GE(env->rt->max_shared_memory_bytes(), uint32(VKS_FLASH_SHARED_BYTES)) << "every device we know of has the flash tile's shared memory";
}
