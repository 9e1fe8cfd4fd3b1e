// Mixtures of experts routed on the device (--moe-routing, DeviceMoe, shaders/moe_route.comp)
// on lavapipe: the routing kernel chooses as the host's cpu::route_token does, bit for bit
// (experts, weights, ties, flushed tails, both gatings) and arms only the chosen experts'
// indirect dispatches; an all-resident decode routed on the device gives the host-routed
// decode's logits exactly, tells the provider (the popularity) the same experts token by token,
// reproduces llama.cpp's logits (reference cases) and is one submission per token fewer per MoE
// layer; streamed experts keep the host routing.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "RoutingRecorder.h"
#include "backend/cpu/MoeRouting.h"
#include "backend/vulkan/MoeRoute.h"
#include "backend/vulkan/VulkanBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/ModelGenerator.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"
#include "vulkan/VulkanTestEnv.h"

using namespace vk_symbiote;
using Routing = VulkanOptions::MoeRouting;

namespace {

ModelConfig router(uint32 experts, uint32 used, bool norm, float scale) {
    ModelConfig c;
    c.n_expert = experts, c.n_expert_used = used, c.expert_weights_norm = norm, c.expert_weights_scale = scale;
    return c;
}

// n tokens' logits: normal values, every 5th token with ties (values from a set of 3), every 7th
// with all experts but every 16th 120 below the best (their exponentials flushed to 0).
std::vector<float> tricky_logits(uint32 n, uint32 X, uint64 seed) {
    std::mt19937 rng{uint32(seed)};
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> v(size_t(n) * X);
    for (uint32 t = 0; t < n; ++t)
        for (uint32 e = 0; e < X; ++e) {
            float& x = v[size_t(t) * X + e];
            x = d(rng);
            if (t % 5 == 1) x = float(rng() % 3) * 0.5f;
            if (t % 7 == 2 && e % 16 != 0) x -= 120.0f;
        }
    return v;
}

}  // namespace

TEST(MoeRouteKernel, ChoosesAsTheHostBitForBit) {
    VKS_REQUIRE_VULKAN();
    const uint32 n = 150;
    for (const ModelConfig& c : {router(8, 2, true, 1.0f), router(60, 8, false, 2.5f), router(256, 16, true, 1.0f), router(4, 1, true, 1.0f)}) {
        SCOPED_TRACE(std::to_string(c.n_expert) + " experts, " + std::to_string(c.n_expert_used) + " used");
        const uint32 X = c.n_expert, k = c.n_expert_used;
        const std::vector<float> logits = tricky_logits(n, X, X);
        GpuBuffer lg = env->upload(logits.data(), logits.size() * 4), table = env->buffer(uint64(n) * k * 8 + 64), choices = env->buffer(uint64(n) * k * 4);
        env->run(ShaderSpecialization{}, [&](OpContext& ctx) {
            return op_moe_route(ctx, c, n, MoeRouteBuffers{env->act(lg, X), table.buffer, choices.buffer, VK_NULL_HANDLE, VK_NULL_HANDLE, 0, 0}, 16, 0);
        });
        std::vector<uint32> tb(size_t(n) * k * 2 + 16), ch(size_t(n) * k);
        env->download_bytes(table, tb.data(), tb.size() * 4);
        env->download_bytes(choices, ch.data(), ch.size() * 4);
        uint32 flushed = 0;
        for (uint32 t = 0; t < n; ++t) {
            std::vector<cpu::ExpertChoice> want(k);
            cpu::route_token(logits.data() + size_t(t) * X, c, want.data());
            for (uint32 j = 0; j < k; ++j) EXPECT_EQ(ch[size_t(t) * k + j], want[j].expert) << "token " << t << " choice " << j;
            std::sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.expert < b.expert; });
            for (uint32 j = 0; j < k; ++j) {
                const uint32* pair = tb.data() + 16 + 2 * (size_t(t) * k + j);
                EXPECT_EQ(pair[0], want[j].expert) << "token " << t;
                EXPECT_EQ(pair[1], std::bit_cast<uint32>(want[j].weight)) << "token " << t << " expert " << want[j].expert << ": weight bits";
                flushed += want[j].weight == 0.0f;
            }
        }
        if (k > 1 && X < 16 * k) {
            EXPECT_GT(flushed, 0u) << "some chosen experts' exponentials were flushed";
        }
    }
}

TEST(MoeRouteKernel, ArmsOnlyTheChosenExpertsDispatches) {
    VKS_REQUIRE_VULKAN();
    const ModelConfig c = router(8, 2, true, 1.0f);
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 0.3f, 3.0f, 0.0f, -2.0f, 1.0f};  // experts 4 and 1
    std::vector<uint32> slots;  // two dispatches per expert, counts (e + 1, 2, 3) and (5, 1, e + 7)
    for (uint32 e = 0; e < 8; ++e) slots.insert(slots.end(), {e + 1, 2, 3, e, 5, 1, e + 7, e});
    GpuBuffer lg = env->upload(logits.data(), 32), sl = env->upload(slots.data(), slots.size() * 4), args = env->buffer(slots.size() * 4);
    GpuBuffer table = env->buffer(64), choices = env->buffer(64);
    env->run(ShaderSpecialization{}, [&](OpContext& ctx) {
        return op_moe_route(ctx, c, 1, MoeRouteBuffers{env->act(lg, 8), table.buffer, choices.buffer, sl.buffer, args.buffer, 16, 0}, 0, 0);
    });
    std::vector<uint32> a(slots.size());
    env->download_bytes(args, a.data(), a.size() * 4);
    for (uint32 s = 0; s < 16; ++s) {
        const uint32 e = s / 2;
        const bool chosen = e == 1 || e == 4;
        for (uint32 i = 0; i < 3; ++i) EXPECT_EQ(a[4 * s + i], chosen ? slots[4 * s + i] : (i == 0 ? 0u : 1u)) << "slot " << s << " count " << i;
    }
}

namespace {

// A decode of `tokens` on the Vulkan backend, all weights resident (or every matrix streamed).
struct Decode {
    std::vector<std::vector<float>> logits;  // per token
    std::vector<DecodeRecording> rec;        // per one-row pass
    std::vector<test::Recorder::Event> routed;
    uint64 expert_hits = 0;
};

// `prompt` tokens as one batch (host-routed either way), the rest one at a time; paged: f16 caches
// in the KV pool (one-row batched passes), else contiguous f32 caches (plain one-row passes).
Decode decode(const Path& model, Routing routing, const std::vector<uint32>& tokens, uint32 prompt, bool streamed = false, bool paged = true) {
    Decode d;
    auto w = FileWeightProvider::open(model);
    EXPECT_TRUE(w) << w.error().to_string();
    if (!w) return d;
    test::Recorder rec(**w);
    VulkanOptions o;
    o.enable_validation = test::validation_wanted();
    o.kv_f16_rounding = paged;  // llama.cpp's f16 caches (the reference's precision)
    o.moe_routing = routing;
    o.force_streaming = streamed;
    o.hybrid = false;
    auto be = VulkanBackend::create(o);
    EXPECT_TRUE(be) << be.error().to_string();
    if (!be) return d;
    EXPECT_TRUE((*be)->prepare(rec, uint32(tokens.size() + 1), 8));
    const uint32 V = rec.config().n_vocab;
    for (uint32 i = 0; i < tokens.size();) {
        const uint32 n = i == 0 && prompt > 0 ? prompt : 1;
        d.logits.emplace_back(size_t(V) * n);
        auto f = (*be)->forward({&tokens[i], n, i, n > 1, d.logits.back().data()});
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return d;
        if (n == 1) d.rec.push_back((*be)->last_decode_recording());
        i += n;
    }
    d.routed = rec.events;
    d.expert_hits = (*be)->expert_vram_hits();
    return d;
}

// Device routing against host routing over the same tokens: equal logits, the same experts
// told to the provider in the same order, one submission fewer per MoE layer and token.
void expect_same_function(const Decode& host, const Decode& dev, const ModelConfig& c) {
    ASSERT_EQ(host.logits.size(), dev.logits.size());
    for (size_t i = 0; i < host.logits.size(); ++i) EXPECT_TRUE(host.logits[i] == dev.logits[i]) << "pass " << i << ": logits differ";
    ASSERT_EQ(host.routed.size(), dev.routed.size());
    for (size_t i = 0; i < host.routed.size(); ++i) {
        EXPECT_EQ(host.routed[i].layer, dev.routed[i].layer) << "routing " << i;
        EXPECT_EQ(host.routed[i].counts, dev.routed[i].counts) << "routing " << i << " (layer " << host.routed[i].layer << ")";
        EXPECT_EQ(host.routed[i].n_tokens, dev.routed[i].n_tokens) << "routing " << i;
    }
    ASSERT_EQ(host.rec.size(), dev.rec.size());
    for (size_t i = 0; i < host.rec.size(); ++i) EXPECT_EQ(host.rec[i].submissions, dev.rec[i].submissions + c.n_layer) << "token " << i;
    EXPECT_EQ(host.expert_hits, dev.expert_hits);
}

ModelConfig config_of(const Path& model) {
    auto w = FileWeightProvider::open(model);
    EXPECT_TRUE(w) << w.error().to_string();
    return w ? (*w)->config() : ModelConfig{};
}

class MoeDeviceRouting : public ::testing::TestWithParam<std::string> {};

}  // namespace

// The reference cases token by token: llama.cpp's logits within the README tolerance on both
// routings, and the same function.
TEST_P(MoeDeviceRouting, ReferenceDecodeEqualsTheHostRouting) {
    VKS_REQUIRE_VULKAN();
    auto ref = test::load_reference_case(GetParam());
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Path model = test::models_dir() / ref->model;
    const ModelConfig c = config_of(model);
    ASSERT_TRUE(c.is_moe());
    const std::vector<uint32> toks(ref->prompt_tokens.begin(), ref->prompt_tokens.begin() + std::min<size_t>(8, ref->prompt_tokens.size()));
    const Decode host = decode(model, Routing::Host, toks, 0), dev = decode(model, Routing::Device, toks, 0), aut = decode(model, Routing::Auto, toks, 0);
    ASSERT_EQ(dev.logits.size(), toks.size());
    for (size_t i = 0; i < toks.size(); ++i)
        EXPECT_LT(test::nmse(dev.logits[i].data(), ref->logits_at(i), ref->n_vocab), ref->tolerance()) << "position " << i;
    expect_same_function(host, dev, c);
    expect_same_function(host, aut, c);
    std::printf("[ %s ] decode token: %llu submissions routed on the host, %llu on the device\n", GetParam().c_str(),
                (unsigned long long)host.rec.back().submissions, (unsigned long long)dev.rec.back().submissions);
}

INSTANTIATE_TEST_SUITE_P(Cases, MoeDeviceRouting, ::testing::Values("arch-llama-moe", "arch-qwen3moe"), test::CaseName{});

// tiny-moe (8 experts, 2 used): a prompt batch (host-routed), then decode tokens, over the paged
// KV pool and over contiguous f32 caches.
TEST(MoeDeviceRouting, TinyMoePromptThenDecodeEqualsTheHostRouting) {
    VKS_REQUIRE_VULKAN();
    auto s = model_shape_preset("tiny-moe");
    ASSERT_TRUE(s);
    auto p = generate_model(*s, DType::F32, test::tmp_dir() / "tiny-moe-routing.gguf", 11);
    ASSERT_TRUE(p) << p.error().to_string();
    const ModelConfig c = config_of(*p);
    std::vector<uint32> toks(20);
    for (uint32 i = 0; i < toks.size(); ++i) toks[i] = 3 + (i * 2654435761u) % (c.n_vocab - 3);
    for (bool paged : {true, false}) {
        SCOPED_TRACE(paged ? "paged f16 caches" : "contiguous f32 caches");
        const Decode host = decode(*p, Routing::Host, toks, 6, false, paged), dev = decode(*p, Routing::Device, toks, 6, false, paged);
        ASSERT_EQ(dev.rec.size(), toks.size() - 6);
        expect_same_function(host, dev, c);
    }
}

// Streamed experts are routed on the host whatever the option says (the host uploads the chosen).
TEST(MoeDeviceRouting, StreamedExpertsKeepTheHostRouting) {
    VKS_REQUIRE_VULKAN();
    const Path model = test::models_dir() / "arch" / "llama-moe.gguf";
    std::vector<uint32> toks = {1, 5, 9, 13, 17};
    const Decode host = decode(model, Routing::Host, toks, 0, true), dev = decode(model, Routing::Device, toks, 0, true);
    ASSERT_EQ(host.rec.size(), dev.rec.size());
    for (size_t i = 0; i < host.rec.size(); ++i) {
        EXPECT_EQ(host.rec[i].submissions, dev.rec[i].submissions) << "token " << i;
        EXPECT_TRUE(host.logits[i] == dev.logits[i]) << "token " << i;
    }
}
