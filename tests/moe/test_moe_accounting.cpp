// Mixtures of experts, the bytes a pass reads: WeightProvider::routed_expert_bytes counts the
// chosen experts of every routing (checked against the router choices a recording provider
// saw, with the experts' sizes taken from the registry here), and the benchmark's weights per
// token are the dense part plus those experts, not every expert (on the CPU, and on the Vulkan
// device in a hybrid placement whose CPU layers count only their chosen experts).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "backend/cpu/CpuBackend.h"
#include "bench/Workload.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "model/ModelGenerator.h"
#include "support/EngineRun.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;
using namespace vk_symbiote::bench;

namespace {

// Records each routing's per-expert counts, passing everything to the file provider.
class RoutingLog final : public WeightProvider {
public:
    explicit RoutingLog(WeightProvider& inner) : inner_(inner) {}
    const ModelConfig& config() const override { return inner_.config(); }
    const TensorRegistry& registry() const override { return inner_.registry(); }
    Expected<WeightHandle> acquire(TensorId id) override { return inner_.acquire(id); }
    ExpectedVoid embedding_row(uint32 token, float* out) override { return inner_.embedding_row(token, out); }
    std::vector<std::pair<uint32, std::vector<uint32>>> routings;  // (layer, tokens per expert)

protected:
    void on_experts_routed(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) override {
        routings.push_back({layer, counts});
        inner_.experts_routed(layer, counts, n_tokens);
    }

private:
    WeightProvider& inner_;
};

// Bytes of every tensor of expert `e` of layer `l`, by a scan of the registry.
uint64 scan_expert_bytes(const TensorRegistry& reg, uint32 l, uint32 e) {
    uint64 b = 0;
    for (const TensorDesc& d : reg.tensors())
        if (d.id.layer == int32(l) && d.id.expert == int32(e)) b += d.byte_size;
    return b;
}

Path tiny_moe() {
    auto s = model_shape_preset("tiny-moe");
    EXPECT_TRUE(s);
    auto p = generate_model(*s, DType::F32, test::tmp_dir() / "tiny-moe-accounting.gguf", 11);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : Path();
}

}  // namespace

// A prompt batch, then single tokens: the counter grows by the chosen experts' bytes of each
// routing (each chosen expert once per batch), in a decode step n_expert_used experts a layer.
TEST(MoeAccounting, RoutedExpertBytesAreTheChosenExpertsOfEachRouting) {
    for (const std::string name : {"llama-moe", "qwen3moe"}) {
        auto fw = FileWeightProvider::open(test::models_dir() / "arch" / (name + ".gguf"));
        ASSERT_TRUE(fw) << fw.error().to_string();
        RoutingLog log(**fw);
        const ModelConfig& c = log.config();
        CpuBackend be(2);
        ASSERT_TRUE(be.prepare(log, 32, 64));
        std::vector<uint32> tokens(24);
        for (uint32 i = 0; i < tokens.size(); ++i) tokens[i] = 3 + (i * 7919u) % (c.n_vocab - 3);
        std::vector<float> logits(c.n_vocab);
        ASSERT_TRUE(be.forward({tokens.data(), 16, 0, false, logits.data()}));
        const uint64 after_prompt = log.routed_expert_bytes();
        for (uint32 p = 16; p < tokens.size(); ++p) ASSERT_TRUE(be.forward({&tokens[p], 1, p, false, logits.data()}));
        uint64 want = 0, want_prompt = 0, decode_routings = 0;
        for (size_t i = 0; i < log.routings.size(); ++i) {
            const auto& [layer, counts] = log.routings[i];
            uint32 chosen = 0;
            for (uint32 e = 0; e < counts.size(); ++e)
                if (counts[e] > 0) {
                    want += scan_expert_bytes(log.registry(), layer, e);
                    ++chosen;
                }
            if (i < c.n_layer) {
                want_prompt = want;
            } else {
                ++decode_routings;
                EXPECT_EQ(chosen, c.n_expert_used) << name << ": a decode step's routing";
            }
        }
        EXPECT_EQ(decode_routings, 8u * c.n_layer) << name;
        EXPECT_EQ(after_prompt, want_prompt) << name << ": the prompt batch's chosen experts, each once";
        EXPECT_EQ(log.routed_expert_bytes(), want) << name;
        EXPECT_EQ((*fw)->routed_expert_bytes(), want) << name << ": the inner provider counted the same routings";
        EXPECT_LT(want - want_prompt, 8u * c.n_layer * c.n_expert * scan_expert_bytes(log.registry(), 0, 0)) << name << ": not every expert";
    }
}

namespace {

Expected<std::unique_ptr<VulkanSymbioteEngine>> moe_engine(const Path& model, std::vector<std::string> args) {
    return test::make_engine(model, std::move(args), "moe-accounting-cache");
}

ProbeResults probes() { return test::flat_probes(10); }

// The weights a decode token reads: every dense tensor (the embedding: one row), and of each
// layer's experts n_expert_used (tiny-moe's experts all have the same size).
double decode_bytes_per_token(const TensorRegistry& reg, const ModelConfig& c) {
    uint64 dense = 0;
    for (const TensorDesc& d : reg.tensors()) {
        if (d.id.expert >= 0) continue;
        dense += d.id.role == TensorRole::TokenEmbd ? d.row_bytes() : d.byte_size;  // (an output matrix of its own)
    }
    return double(dense + uint64(c.n_layer) * c.n_expert_used * scan_expert_bytes(reg, 0, 0));
}

}  // namespace

// The benchmark's tg accounting on a generated tiny-moe: on the CPU, weights per token are
// the dense part plus n_expert_used experts a layer, all from RAM; on the Vulkan device under a
// small VRAM budget (streamed layers, the hybrid decode's CPU layers), the same total, and the
// CPU's share of it no more than the dense part plus its layers' chosen experts.
TEST(MoeAccounting, BenchWeightsPerTokenAreTheDensePartAndTheChosenExperts) {
    const Path model = tiny_moe();
    auto lm = LoadedModel::open(model);
    ASSERT_TRUE(lm) << lm.error().to_string();
    const TensorRegistry& reg = (*lm)->registry();
    const ModelConfig& c = (*lm)->config();
    ASSERT_GT(c.n_expert, c.n_expert_used);
    ASSERT_FALSE(c.tied_output);
    const double want = decode_bytes_per_token(reg, c);
    WorkloadOptions o;
    o.repetitions = 2;
    o.seed = 5;
    for (bool gpu : {false, true}) {
        auto e = gpu ? moe_engine(model, {"--device-index", "0", "--vram-gb", "0.0045"}) : moe_engine(model, {"--disable-gpu"});
        if (gpu && (!e || (*e)->get_performance_metrics().backend.rfind("vulkan", 0) != 0)) {
            std::printf("[ skipped ] no Vulkan engine under a small budget: %s\n", e ? (*e)->describe().c_str() : e.error().message.c_str());
            continue;
        }
        ASSERT_TRUE(e) << e.error().to_string();
        auto w = run_generation(**e, reg, 6, o, probes());
        ASSERT_TRUE(w) << w.error().to_string();
        const Accounting& a = w->accounting;
        std::printf("[ tiny-moe %s ] weights/token %.0f (dense + chosen experts %.0f); RAM %.0f, bus %.0f, VRAM %.0f; %s\n", gpu ? "vulkan" : "cpu",
                    a.weight_bytes_per_token, want, a.ram.bytes_per_token, a.bus.bytes_per_token, a.vram.bytes_per_token, (*e)->describe().c_str());
        EXPECT_NEAR(a.weight_bytes_per_token, want, want * 1e-9) << (gpu ? "vulkan" : "cpu");
        if (!gpu) {
            EXPECT_NEAR(a.ram.bytes_per_token, want, want * 1e-9) << "the CPU reads them all from RAM";
        } else {
            EXPECT_GT((*e)->get_performance_metrics().decode_cpu_layers, 0u) << "the budget streams layers and the hybrid decode runs some on the CPU";
            EXPECT_GT(a.ram.bytes_per_token, 0) << "the CPU layers' share";
            // Every pass routes each layer once, one token: n_expert_used chosen experts a layer,
            // each counted as found in VRAM or not.
            const PackCacheFigures& pc = w->pack_cache;
            uint64 passes = 0;
            for (const RunSample& smp : w->samples) passes += smp.forward_passes;
            EXPECT_EQ(pc.expert_vram_hits + pc.expert_vram_misses, passes * c.n_layer * c.n_expert_used);
            EXPECT_GT(pc.expert_vram_misses, 0u) << "streamed or CPU layers";
        }
        EXPECT_LE(a.ram.bytes_per_token, want * (1 + 1e-9));
    }
}
