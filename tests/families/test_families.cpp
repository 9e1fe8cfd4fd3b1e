// Model families as data (src/model/families): what each arch/ model of ../shared loads as,
// fused tensors and experts read as row ranges, the refusals (unknown architectures, mixtures
// of experts the engine lacks, keys and tensors of features the engine does not implement), and the CPU backend's family
// features outside forward(): the sliding-window ring and the hybrid decode's parts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "backend/cpu/CpuBackend.h"
#include "model/KvLayout.h"
#include "gguf/GGUFWriter.h"
#include "memory/FileWeightProvider.h"
#include "model/ChatTemplate.h"
#include "model/LoadedModel.h"
#include "model/ModelGenerator.h"
#include "model/families/FamilyRegistry.h"
#include "packs/PackPlanner.h"
#include "packs/PackWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

namespace {

Path arch_model(const std::string& name) { return test::models_dir() / "arch" / (name + ".gguf"); }

ModelConfig config_of(const std::string& name) {
    auto m = LoadedModel::open(arch_model(name), false);
    EXPECT_TRUE(m) << m.error().to_string();
    return m ? (*m)->config() : ModelConfig{};
}

// The error of opening `path` as a model (config, then registry); fails the test if it opens.
Error open_error(const Path& path) {
    auto m = LoadedModel::open(path, false);
    EXPECT_FALSE(m) << path << " opened";
    return m ? Error{} : m.error();
}

// A copy of an arch/ model with edits: metadata keys set or erased, tensors added (f32 zeros).
struct Edit {
    std::vector<std::pair<std::string, GGUFValue>> set;
    std::vector<std::string> erase;
    std::vector<std::pair<std::string, std::vector<uint64>>> add_tensors;
};
Edit set_key(const std::string& k, GGUFValue v) {
    Edit e;
    e.set.emplace_back(k, std::move(v));
    return e;
}
Edit erase_keys(std::vector<std::string> keys) {
    Edit e;
    e.erase = std::move(keys);
    return e;
}
Edit add_tensor(const std::string& name, std::vector<uint64> dims) {
    Edit e;
    e.add_tensors.emplace_back(name, std::move(dims));
    return e;
}

// A copy of the model file `from` with edits (edited_copy: of an arch/ model of ../shared).
Path edited_file(const Path& from, const Edit& e, const std::string& out_name) {
    auto g = GGUFLoader::open(from);
    EXPECT_TRUE(g) << g.error().to_string();
    std::shared_ptr<const GGUFLoader> src(std::move(*g));
    GGUFWriter w;
    for (const auto& [k, v] : src->metadata())
        if (std::find(e.erase.begin(), e.erase.end(), k) == e.erase.end() && k != "general.alignment") w.add(k, v);
    for (const auto& [k, v] : e.set) w.set(k, v);
    for (const GGUFTensorInfo& t : src->tensors()) {
        const uint64 base = t.file_offset;
        w.add_tensor(t.name, t.dims, t.dtype, [src, base](uint64 off, uint8* dst, uint64 n) { return src->read_range(base + off, n, dst); });
    }
    for (const auto& [tname, dims] : e.add_tensors) w.add_tensor(tname, dims, DType::F32);
    const Path out = test::tmp_dir() / (out_name + ".gguf");
    auto r = w.write(out);
    EXPECT_TRUE(r) << r.error().to_string();
    return out;
}

Path edited_copy(const std::string& arch_name, const Edit& e, const std::string& out_name) { return edited_file(arch_model(arch_name), e, out_name); }

bool mentions(const Error& e, const std::string& what) { return e.message.find(what) != std::string::npos; }

}  // namespace

// ---- what the files load as ----

TEST(FamilyConfig, Qwen2HasBiasesAndNeoxRope) {
    const ModelConfig c = config_of("qwen2");
    EXPECT_TRUE(c.has_qkv_bias);
    EXPECT_EQ(c.rope_style, RopeStyle::NeoX);
    EXPECT_EQ(c.rope_freq_base, 1e6f);
    EXPECT_FALSE(c.has_qk_norm || c.has_post_norms || c.fused_qkv || c.fused_gate_up);
    EXPECT_EQ(c.activation, FfnActivation::Silu);
}

TEST(FamilyConfig, Qwen3HasHeadNormsAndAHeadDimFromKeyLength) {
    const ModelConfig c = config_of("qwen3");
    EXPECT_TRUE(c.has_qk_norm);
    EXPECT_EQ(c.head_dim, 32u);
    EXPECT_EQ(c.q_dim(), 128u);  // twice the model width
    EXPECT_EQ(c.n_embd, 64u);
    EXPECT_TRUE(c.tied_output);
    EXPECT_EQ(c.rope_style, RopeStyle::NeoX);
}

TEST(FamilyConfig, Gemma2HasItsNormsScalesCapsAndWindow) {
    const ModelConfig c = config_of("gemma2");
    EXPECT_TRUE(c.has_post_norms);
    EXPECT_FALSE(c.has_qk_norm);
    EXPECT_EQ(c.activation, FfnActivation::GeluTanh);
    EXPECT_EQ(c.embd_scale, std::sqrt(128.0f));
    EXPECT_EQ(c.attn_softcap, 5.0f);
    EXPECT_EQ(c.final_softcap, 3.0f);
    EXPECT_EQ(c.sliding_window, 8u);
    EXPECT_EQ(c.head_dim, 48u);
    EXPECT_FLOAT_EQ(c.attention_scale(), 1.0f / std::sqrt(48.0f));
    const bool sliding[] = {true, false, true, false};
    for (uint32 l = 0; l < 4; ++l) EXPECT_EQ(c.is_sliding(l), sliding[l]) << "layer " << l;
    EXPECT_TRUE(c.tied_output);
}

TEST(FamilyConfig, Gemma3HasFiveSlidingLayersThenAGlobalOneWithItsOwnRope) {
    const ModelConfig c = config_of("gemma3");
    EXPECT_TRUE(c.has_qk_norm && c.has_post_norms);
    EXPECT_EQ(c.attn_softcap, 0.0f);
    EXPECT_EQ(c.final_softcap, 0.0f);
    for (uint32 l = 0; l < 5; ++l) {
        EXPECT_TRUE(c.is_sliding(l)) << l;
        EXPECT_EQ(c.rope_base(l), 1e4f);
        EXPECT_EQ(c.rope_scale(l), 1.0f);
    }
    EXPECT_FALSE(c.is_sliding(5));
    EXPECT_EQ(c.rope_base(5), 1e6f);
    EXPECT_EQ(c.rope_scale(5), 1.0f / 8.0f);
}

TEST(FamilyConfig, Phi3IsFusedWithPartialRotary) {
    const ModelConfig c = config_of("phi3");
    EXPECT_TRUE(c.fused_qkv && c.fused_gate_up);
    EXPECT_EQ(c.n_rot, 24u);
    EXPECT_EQ(c.head_dim, 32u);
    EXPECT_EQ(c.rope_style, RopeStyle::NeoX);
}

TEST(FamilyConfig, Llama31ReadsItsRopeFrequencyFactors) {
    const ModelConfig c = config_of("llama31");
    ASSERT_EQ(c.rope_freq_factors.size(), c.n_rot / 2);
    EXPECT_EQ(c.rope_style, RopeStyle::Normal);
    // llama3 scaling: high frequencies untouched (1), low ones divided by the factor (8 here).
    EXPECT_EQ(c.rope_freq_factors.front(), 1.0f);
    EXPECT_GT(c.rope_freq_factors.back(), 1.0f);
}

TEST(FamilyConfig, LlamaWithExpertsIsMixtralShaped) {
    const ModelConfig c = config_of("llama-moe");
    EXPECT_TRUE(c.is_moe());
    EXPECT_EQ(c.n_expert, 4u);
    EXPECT_EQ(c.n_expert_used, 2u);
    EXPECT_EQ(c.n_ff_expert, 128u);  // feed_forward_length
    EXPECT_TRUE(c.expert_weights_norm);
    EXPECT_EQ(c.expert_weights_scale, 1.0f);
    EXPECT_EQ(c.rope_style, RopeStyle::Normal);
    EXPECT_FALSE(config_of("llama31").is_moe());
}

TEST(FamilyConfig, Qwen3MoeHasQwen3AttentionAndItsExpertWidthKey) {
    const ModelConfig c = config_of("qwen3moe");
    EXPECT_TRUE(c.has_qk_norm);
    EXPECT_EQ(c.rope_style, RopeStyle::NeoX);
    EXPECT_EQ(c.head_dim, 48u);
    EXPECT_EQ(c.n_expert, 8u);
    EXPECT_EQ(c.n_expert_used, 2u);
    EXPECT_EQ(c.n_ff_expert, 48u);  // expert_feed_forward_length, not feed_forward_length (384)
    EXPECT_TRUE(c.expert_weights_norm);
}

// ---- experts: each one a row range of its layer's 3-D tensors, never copied ----

TEST(ExpertTensors, EachExpertIsItsOwnDescriptorAtBasePlusItsStride) {
    auto m = LoadedModel::open(arch_model("qwen3moe"), false);
    ASSERT_TRUE(m) << m.error().to_string();
    const TensorRegistry& reg = (*m)->registry();
    EXPECT_EQ(reg.find({TensorRole::Wgate, 0}), nullptr);
    const TensorDesc& router = reg.get({TensorRole::Router, 2});
    EXPECT_EQ(router.dtype, DType::F32);
    EXPECT_EQ(router.rows, 8u);
    for (TensorRole r : {TensorRole::ExpGate, TensorRole::ExpUp, TensorRole::ExpDown}) {
        const GGUFTensorInfo* t = (*m)->source().find_tensor(tensor_name({r, 1}));
        ASSERT_TRUE(t);
        const uint64 stride = t->byte_size / 8;
        for (int32 e = 0; e < 8; ++e) {
            const TensorDesc& d = reg.get({r, 1, e});
            EXPECT_EQ(d.name, t->name);
            EXPECT_EQ(d.file_offset, t->file_offset + uint64(e) * stride) << d.label();
            EXPECT_EQ(d.byte_size, stride);
        }
    }
    const TensorDesc& down = reg.get({TensorRole::ExpDown, 1, 5});
    EXPECT_EQ(down.rows, 128u);
    EXPECT_EQ(down.cols, 48u);
    EXPECT_EQ(down.label(), "blk.1.ffn_down_exps.weight expert 5");
    // The provider reads an expert as an ordinary tensor: its bytes are the 3-D tensor's slice.
    auto w = FileWeightProvider::open(*m);
    auto h = w->acquire({TensorRole::ExpUp, 1, 3});
    ASSERT_TRUE(h) << h.error().to_string();
    auto bytes = (*m)->source().read_tensor("blk.1.ffn_up_exps.weight");
    ASSERT_TRUE(bytes);
    const TensorDesc& up3 = reg.get({TensorRole::ExpUp, 1, 3});
    EXPECT_EQ(std::memcmp(h->view().slices[0].data, bytes->data() + 3 * up3.byte_size, up3.byte_size), 0);
}

TEST(ExpertTensors, EveryExpertIsPackedApartAndTheWorkingSetCountsOneExpert) {
    auto m = LoadedModel::open(arch_model("llama-moe"), false);
    ASSERT_TRUE(m);
    const TensorRegistry& reg = (*m)->registry();
    // 20 KB packs: an expert (3 x 32 KB) spans several, none shared with another expert.
    auto plan = plan_packs(reg, {uint64(20) << 10});
    ASSERT_TRUE(plan) << plan.error().to_string();
    const auto& ts = reg.tensors();
    uint64 expert_packs = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        for (const TensorPackRef& r : plan->tensor_packs[i]) {
            const PackMetadata& p = plan->packs[r.pack_id];
            const bool expert = tensor_role_is_expert(ts[i].id.role);
            EXPECT_EQ(p.type == PackType::Expert, expert) << ts[i].label();
            EXPECT_EQ(p.expert, ts[i].id.expert) << ts[i].label();
            EXPECT_EQ(p.layer, ts[i].id.layer) << ts[i].label();
        }
    }
    for (const PackMetadata& p : plan->packs) expert_packs += p.type == PackType::Expert;
    EXPECT_GE(expert_packs, 3u * 4 * 5);  // 3 layers x 4 experts x (96 KB in 20 KB packs)
    // The packs pinned together: a layer's dense packs and one expert's, not all four.
    uint64 dense1 = 0, expert0 = 0, all_experts = 0;
    for (const PackMetadata& p : plan->packs) {
        if (p.layer != 1) continue;
        const uint64 b = pack_buffer_bytes(p.byte_size);
        if (p.type != PackType::Expert) dense1 += b;
        else all_experts += b, expert0 += p.expert == 0 ? b : 0;
    }
    EXPECT_EQ(plan->working_set_bytes, dense1 + expert0);
    EXPECT_LT(plan->working_set_bytes, dense1 + all_experts);
}

// ---- fused tensors: row ranges of one tensor, never copied ----

TEST(FusedTensors, Phi3QkvAndGateUpAreRowRangesOfTheFileTensors) {
    auto m = LoadedModel::open(arch_model("phi3"), false);
    ASSERT_TRUE(m) << m.error().to_string();
    const TensorRegistry& reg = (*m)->registry();
    const GGUFTensorInfo* qkv = (*m)->source().find_tensor("blk.1.attn_qkv.weight");
    const GGUFTensorInfo* up = (*m)->source().find_tensor("blk.1.ffn_up.weight");
    ASSERT_TRUE(qkv && up);
    const TensorDesc& q = reg.get({TensorRole::Wq, 1});
    const TensorDesc& k = reg.get({TensorRole::Wk, 1});
    const TensorDesc& v = reg.get({TensorRole::Wv, 1});
    EXPECT_EQ(q.name, qkv->name);
    EXPECT_EQ(q.file_offset, qkv->file_offset);
    EXPECT_EQ(k.file_offset, q.file_offset + q.byte_size);
    EXPECT_EQ(v.file_offset, k.file_offset + k.byte_size);
    EXPECT_EQ(q.byte_size + k.byte_size + v.byte_size, qkv->byte_size);
    EXPECT_EQ(k.label(), "blk.1.attn_qkv.weight rows [128, 192)");
    const TensorDesc& gate = reg.get({TensorRole::Wgate, 1});
    const TensorDesc& upd = reg.get({TensorRole::Wup, 1});
    EXPECT_EQ(gate.file_offset, up->file_offset);
    EXPECT_EQ(upd.file_offset, up->file_offset + up->byte_size / 2);
    EXPECT_EQ(gate.rows, 256u);

    // The provider reads each range once: the three pieces hold exactly the fused tensor's bytes.
    auto w = FileWeightProvider::open(*m);
    for (TensorRole r : {TensorRole::Wq, TensorRole::Wk, TensorRole::Wv}) ASSERT_TRUE(w->acquire({r, 1}));
    EXPECT_EQ(w->loaded_bytes(), qkv->byte_size);
    auto h = w->acquire({TensorRole::Wk, 1});
    ASSERT_TRUE(h);
    auto bytes = (*m)->source().read_tensor("blk.1.attn_qkv.weight");
    ASSERT_TRUE(bytes);
    EXPECT_EQ(std::memcmp(h->view().slices[0].data, bytes->data() + q.byte_size, k.byte_size), 0);
}

TEST(FusedTensors, PacksOfAFusedTensorAreReadAsOneExtent) {
    auto m = LoadedModel::open(arch_model("phi3"), false);
    ASSERT_TRUE(m);
    auto plan = plan_packs((*m)->registry(), {uint64(1) << 20});
    ASSERT_TRUE(plan) << plan.error().to_string();
    for (const PackMetadata& p : plan->packs) {
        if (p.type != PackType::Attention && p.type != PackType::MLP) continue;
        // q, k, v (and gate, up) continue each other in the file: the pack mirrors them.
        EXPECT_LE(PackPlan::extents(p).size(), 2u) << "pack " << p.pack_id;  // attention: qkv + wo; mlp: up + down
    }
}

// ---- refusals ----

TEST(FamilyRefusals, UnknownArchitectureListsTheSupportedOnes) {
    const Path p = edited_copy("qwen2", set_key("general.architecture", gguf_string("gpt2")), "gpt2");
    const Error e = open_error(p);
    EXPECT_EQ(e.code, ErrorCode::Unsupported);
    EXPECT_TRUE(mentions(e, "general.architecture") && mentions(e, "'gpt2'")) << e.message;
    for (const char* a : {"llama", "mistral", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"}) EXPECT_TRUE(mentions(e, a)) << a << ": " << e.message;
    EXPECT_EQ(supported_architectures(), "llama, mistral, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3");
}

TEST(FamilyRefusals, MixtureOfExpertsVariantsTheEngineLacksAreRefusedByKey) {
    Error e = open_error(edited_copy("llama-moe", set_key("llama.expert_shared_count", gguf_u32(1)), "moe-shared"));
    EXPECT_EQ(e.code, ErrorCode::Unsupported);
    EXPECT_TRUE(mentions(e, "llama.expert_shared_count") && mentions(e, "shared experts")) << e.message;
    e = open_error(edited_copy("qwen3moe", set_key("qwen3moe.expert_gating_func", gguf_u32(2)), "moe-sigmoid"));
    EXPECT_TRUE(mentions(e, "qwen3moe.expert_gating_func") && mentions(e, "softmax")) << e.message;
    // A family without an expert layout (qwen2) with expert_count; qwen2moe by architecture.
    e = open_error(edited_copy("qwen2", set_key("qwen2.expert_count", gguf_u32(4)), "qwen2-experts"));
    EXPECT_TRUE(mentions(e, "qwen2.expert_count") && mentions(e, "mixture-of-experts")) << e.message;
    e = open_error(edited_copy("qwen3moe", set_key("general.architecture", gguf_string("qwen2moe")), "qwen2moe"));
    EXPECT_TRUE(mentions(e, "'qwen2moe'") && mentions(e, "mixture-of-experts")) << e.message;
}

TEST(FamilyRefusals, BrokenExpertMetadataAndTensorsAreErrorsNamingThem) {
    Error e = open_error(edited_copy("llama-moe", erase_keys({"llama.expert_used_count"}), "moe-no-used"));
    EXPECT_TRUE(mentions(e, "llama.expert_used_count")) << e.message;
    e = open_error(edited_copy("llama-moe", set_key("llama.expert_used_count", gguf_u32(5)), "moe-used-5"));
    EXPECT_EQ(e.code, ErrorCode::Format);
    EXPECT_TRUE(mentions(e, "llama.expert_used_count") && mentions(e, "out of range")) << e.message;
    e = open_error(edited_copy("qwen3moe", erase_keys({"qwen3moe.expert_feed_forward_length"}), "moe-no-width"));
    EXPECT_TRUE(mentions(e, "qwen3moe.expert_feed_forward_length")) << e.message;
    // Eight experts in the metadata, four in the 3-D tensors: the first such tensor is named.
    e = open_error(edited_copy("llama-moe", set_key("llama.expert_count", gguf_u32(8)), "moe-count-8"));
    EXPECT_EQ(e.code, ErrorCode::Format);
    EXPECT_TRUE(mentions(e, "blk.0.ffn_gate_inp.weight") && mentions(e, "[128, 8]")) << e.message;
    // Without the expert_count key the expert tensors are not used: refused, by name.
    e = open_error(edited_copy("llama-moe", erase_keys({"llama.expert_count", "llama.expert_used_count"}), "moe-no-key"));
    EXPECT_TRUE(mentions(e, "ffn_gate_inp") || mentions(e, "_exps")) << e.message;
}

TEST(FamilyRefusals, TensorsOfUnimplementedFeaturesAreRefusedByName) {
    Error e = open_error(edited_copy("qwen2", add_tensor("blk.1.attn_output.bias", {128}), "qwen2-obias"));
    EXPECT_EQ(e.code, ErrorCode::Unsupported);
    EXPECT_TRUE(mentions(e, "blk.1.attn_output.bias")) << e.message;
    e = open_error(edited_copy("phi3", add_tensor("rope_factors_long.weight", {12}), "phi3-long"));
    EXPECT_TRUE(mentions(e, "rope_factors_long.weight")) << e.message;
    // Llama 3.1 factors on a family that has none (qwen3).
    e = open_error(edited_copy("qwen3", add_tensor("rope_freqs.weight", {16}), "qwen3-freqs"));
    EXPECT_TRUE(mentions(e, "rope_freqs.weight")) << e.message;
}

TEST(FamilyRefusals, KeysOfUnimplementedFeaturesAreRefusedByName) {
    Error e = open_error(edited_copy("qwen2", set_key("qwen2.rope.scaling.type", gguf_string("yarn")), "qwen2-yarn"));
    EXPECT_EQ(e.code, ErrorCode::Unsupported);
    EXPECT_TRUE(mentions(e, "qwen2.rope.scaling.type") && mentions(e, "yarn")) << e.message;
    e = open_error(edited_copy("qwen3", set_key("qwen3.attention.value_length", gguf_u32(16)), "qwen3-vlen"));
    EXPECT_TRUE(mentions(e, "qwen3.attention.value_length")) << e.message;
    e = open_error(edited_copy("gemma2", set_key("gemma2.attention.sliding_window", gguf_u32(0)), "gemma2-w0"));
    EXPECT_TRUE(mentions(e, "gemma2.attention.sliding_window")) << e.message;
    e = open_error(edited_copy("gemma3", erase_keys({"gemma3.attention.sliding_window"}), "gemma3-now"));
    EXPECT_TRUE(mentions(e, "gemma3.attention.sliding_window")) << e.message;
}

TEST(FamilyRefusals, ARopeFreqsTensorOfTheWrongShapeIsAnError) {
    // llama31 with 26 rotated dims instead of 32: its 16 rope_freqs no longer give one factor per pair.
    const Error e = open_error(edited_copy("llama31", set_key("llama.rope.dimension_count", gguf_u32(26)), "llama31-rot"));
    EXPECT_EQ(e.code, ErrorCode::Format);
    EXPECT_TRUE(mentions(e, "rope_freqs.weight")) << e.message;
}

// ---- the CPU backend's family features outside forward() ----

// The paged KV cache keeps every position of every layer, sliding layers included (one block
// table serves all layers): the pool and the RAM estimate are those of a model without a
// window, and a sliding layer's queries read only their window of it.
TEST(SlidingWindow, SlidingLayersLiveInThePagedCacheAndBudgetsCountIt) {
    auto w = FileWeightProvider::open(arch_model("gemma2"));
    ASSERT_TRUE(w);
    const ModelConfig& c = (*w)->config();
    ASSERT_TRUE(c.is_sliding(0) && !c.is_sliding(1));
    CpuBackend be(1);
    ASSERT_TRUE(be.prepare(**w, 100, 4));
    EXPECT_EQ(be.kv_pool()->layout().bytes(), KvLayout::for_tokens(c, 100).bytes());
    ModelConfig full = c;
    full.sliding_window = 0;
    EXPECT_EQ(estimate_activation_kv_bytes(full, 100, 4), estimate_activation_kv_bytes(c, 100, 4));
}

// Every position stays in the cache: a step back of any length is exact (the scheduler's
// prefix reuse depends on it).
TEST(SlidingWindow, AStepBackOfAnyLengthIsExact) {
    auto ref = test::load_reference_case("arch-gemma2");
    ASSERT_TRUE(ref);
    auto w = FileWeightProvider::open(arch_model("gemma2"));
    ASSERT_TRUE(w);
    const auto& toks = ref->prompt_tokens;
    const uint32 n = uint32(toks.size()), V = ref->n_vocab;
    ASSERT_GT(n, 12u);
    CpuBackend be(1, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    ASSERT_TRUE(be.prepare(**w, n, 2));
    std::vector<float> logits(V);
    ASSERT_TRUE(be.forward(ForwardRequest{toks.data(), n, 0, false, logits.data()}));
    for (uint32 back : {2u, 10u}) {
        ASSERT_TRUE(be.forward(ForwardRequest{&toks[n - back], back, n - back, false, logits.data()}));
        EXPECT_LT(test::nmse(logits.data(), ref->logits_at(n - 1), V), ref->tolerance()) << back << " positions back";
    }
}

namespace {

// The hybrid decode's CPU side for the last prompt token, every family feature through the
// parts: embedding (scaled), per layer attention_part (all heads) -> Wo rows -> post_norm_part
// (post norm + residual) or residual, ffn_part -> Wdown rows -> the same; output_part. With whole_layers,
// forward_layer instead of the parts.
std::vector<float> last_token_by_parts(CpuBackend& be, WeightProvider& w, uint32 token, uint32 pos, bool whole_layers) {
    const ModelConfig& c = w.config();
    const uint64 E = c.n_embd;
    std::vector<float> x(E), att(c.q_dim()), y(E), h(c.n_ff), logits(c.n_vocab);
    EXPECT_TRUE(w.embedding_row(token, x.data()));
    for (float& v : x) v *= c.embd_scale;
    auto residual = [&](TensorRole post, uint32 l) {
        if (c.has_post_norms) EXPECT_TRUE(be.post_norm_part({post, int32(l)}, y.data(), x.data()));  // x += rmsnorm(y) * post
        else cpu::add_inplace(x.data(), y.data(), E);
    };
    for (uint32 l = 0; l < c.n_layer; ++l) {
        if (whole_layers) {
            EXPECT_TRUE(be.forward_layer(l, x.data(), 1, pos));
            continue;
        }
        EXPECT_TRUE(be.attention_part(l, x.data(), pos, c.n_head_kv, att.data()));
        EXPECT_TRUE(be.project_part({TensorRole::Wo, int32(l)}, E, att.data(), y.data(), false));
        residual(TensorRole::PostAttnNorm, l);
        EXPECT_TRUE(be.ffn_part(l, x.data(), c.n_ff, h.data()));
        EXPECT_TRUE(be.project_part({TensorRole::Wdown, int32(l)}, E, h.data(), y.data(), false));
        residual(TensorRole::PostFfnNorm, l);
    }
    EXPECT_TRUE(be.output_part(x.data(), c.n_vocab, logits.data()));
    return logits;
}

}  // namespace

class HybridParts : public ::testing::TestWithParam<std::string> {};

TEST_P(HybridParts, PartsAndWholeLayersComputeWhatForwardComputes) {
    auto ref = test::load_reference_case("arch-" + GetParam());
    ASSERT_TRUE(ref);
    auto w = FileWeightProvider::open(arch_model(GetParam()));
    ASSERT_TRUE(w);
    const auto& toks = ref->prompt_tokens;
    const uint32 n = std::min<uint32>(uint32(toks.size()), 20), V = ref->n_vocab;
    CpuBackend whole(1);
    ASSERT_TRUE(whole.prepare(**w, n, n));
    std::vector<float> want(V);
    ASSERT_TRUE(whole.forward(ForwardRequest{toks.data(), n, 0, false, want.data()}));
    for (bool layers : {false, true}) {
        CpuBackend parts(1);
        ASSERT_TRUE(parts.prepare(**w, n, n));
        std::vector<float> scratch(V);
        ASSERT_TRUE(parts.forward(ForwardRequest{toks.data(), n - 1, 0, false, scratch.data()}));
        const auto got = last_token_by_parts(parts, **w, toks[n - 1], n - 1, layers);
        EXPECT_LT(test::nmse(got.data(), want.data(), V), 1e-10) << (layers ? "forward_layer" : "parts");
    }
}

INSTANTIATE_TEST_SUITE_P(Families, HybridParts, ::testing::Values("qwen2", "qwen3", "gemma2", "gemma3", "phi3", "llama31"),
                         [](const auto& info) { return std::string(info.param); });

TEST(HybridPartRefusals, PostNormModelsRefuseToAccumulateWoAndDownRowsAndTakeTheirPostNormsOnly) {
    auto w = FileWeightProvider::open(arch_model("gemma2"));
    ASSERT_TRUE(w);
    CpuBackend be(1);
    ASSERT_TRUE(be.prepare(**w, 4, 1));
    std::vector<float> in(256, 0.1f), y(128, 0.0f);
    auto r = be.project_part({TensorRole::Wo, 0}, 16, in.data(), y.data(), true);
    ASSERT_FALSE(r);
    EXPECT_TRUE(mentions(r.error(), "post norms")) << r.error().message;
    EXPECT_TRUE(be.project_part({TensorRole::Wo, 0}, 16, in.data(), y.data(), false));
    // The post norm step itself takes a layer's post norm of a model that has them, nothing else.
    EXPECT_TRUE(be.post_norm_part({TensorRole::PostFfnNorm, 3}, in.data(), y.data()));
    for (TensorId id : {TensorId{TensorRole::FfnNorm, 0}, TensorId{TensorRole::PostAttnNorm, 4}}) {
        auto p = be.post_norm_part(id, in.data(), y.data());
        ASSERT_FALSE(p) << tensor_name(id);
        EXPECT_TRUE(mentions(p.error(), "is not a post norm")) << p.error().message;
    }
    auto qwen = FileWeightProvider::open(arch_model("qwen3"));
    ASSERT_TRUE(qwen);
    CpuBackend q(1);
    ASSERT_TRUE(q.prepare(**qwen, 4, 1));
    EXPECT_FALSE(q.post_norm_part({TensorRole::PostAttnNorm, 0}, in.data(), y.data())) << "qwen3 has no post norms";
}

// ---- generated models of every family (vk_symbiote_genmodel's shapes) ----

namespace {

const std::vector<std::string> kFamilyPresets = {"llama3.1-8b", "qwen2.5-7b", "qwen3-8b", "gemma2-9b", "gemma3-12b", "phi3-mini"};

// A tiny instance of a realistic shape: same family, features and chat tokens, small widths
// (head_dim kept different from n_embd / n_head where the real one is), six layers (gemma3's
// first global layer is its sixth), a window of 4 for sliding families.
ModelShape tiny_of(const ModelShape& real) {
    ModelShape s = real;
    s.name = "tiny-" + real.name;
    s.n_vocab = 320;
    s.n_embd = 64;
    s.n_layer = 6;
    s.n_head = 4;
    s.n_head_kv = real.n_head_kv == real.n_head ? 4 : 2;
    s.head_dim = real.head_dim != 0 && real.head_dim != real.n_embd / real.n_head ? 24 : 0;
    s.n_ff = 96;
    s.n_ctx = 64;
    if (real.sliding_window) s.sliding_window = 4;
    return s;
}

}  // namespace

TEST(GeneratedFamilies, RealisticShapesCarryTheirFamilyFeatures) {
    auto g2 = model_shape_preset("gemma2-9b");
    ASSERT_TRUE(g2);
    const ModelConfig c = model_config_for_shape(*g2);
    EXPECT_EQ(c.head_dim, 256u);
    EXPECT_EQ(c.q_dim(), 4096u);  // wider than n_embd 3584
    EXPECT_TRUE(c.tied_output && c.has_post_norms && c.has_sliding_layers());
    EXPECT_EQ(c.attn_softcap, 50.0f);
    EXPECT_EQ(c.sliding_window, 4096u);
    auto l31 = model_shape_preset("llama3.1-8b");
    ASSERT_TRUE(l31);
    EXPECT_EQ(model_config_for_shape(*l31).rope_freq_factors.size(), 64u);
    auto q25 = model_shape_preset("qwen2.5-7b");
    ASSERT_TRUE(q25);
    EXPECT_TRUE(model_config_for_shape(*q25).has_qkv_bias);
    // Size of Qwen2.5-7B in bf16: 7.62e9 parameters, 2 bytes each (+ the header).
    const uint64 bytes = generated_model_bytes(*q25, DType::BF16);
    EXPECT_GT(bytes, 15'200'000'000ull);
    EXPECT_LT(bytes, 15'300'000'000ull);
    for (const std::string& name : kFamilyPresets) {
        auto s = model_shape_preset(name);
        ASSERT_TRUE(s) << name;
        EXPECT_TRUE(validate_model_shape(*s)) << name;
    }
}

class GeneratedFamily : public ::testing::TestWithParam<std::string> {};

// The file loads as the shape says, its chat tokens are the tokenizer's end of turn, and it runs
// on the CPU: prompt in one batch = prompt in batches of 2 (sliding layers then wrap their rings).
TEST_P(GeneratedFamily, TinyInstanceLoadsAndRunsOnTheCpu) {
    auto real = model_shape_preset(GetParam());
    ASSERT_TRUE(real);
    const ModelShape s = tiny_of(*real);
    auto path = generate_model(s, DType::F16, test::tmp_dir() / (s.name + ".gguf"), 3);
    ASSERT_TRUE(path) << path.error().to_string();
    auto m = LoadedModel::open(*path, true);
    ASSERT_TRUE(m) << m.error().to_string();
    const ModelConfig& got = (*m)->config();
    const ModelConfig want = model_config_for_shape(s);
    EXPECT_EQ(got.summary(), want.summary());
    EXPECT_EQ(got.rope_freq_factors, want.rope_freq_factors);
    EXPECT_EQ(got.sliding, want.sliding);
    EXPECT_EQ(got.has_qkv_bias, want.has_qkv_bias);
    EXPECT_EQ(got.fused_qkv, want.fused_qkv);
    EXPECT_EQ(got.rope_base(5), want.rope_base(5));
    EXPECT_EQ(got.rope_scale(5), want.rope_scale(5));

    const Tokenizer& tok = (*m)->tokenizer();
    EXPECT_EQ(detect_chat_format(tok.chat_template()), s.chat);
    ASSERT_TRUE(tok.eot_id().has_value());
    EXPECT_EQ(*tok.eot_id(), s.n_vocab - 1);
    EXPECT_TRUE(tok.is_eog(s.n_vocab - 1));
    EXPECT_EQ(chat_special_tokens(s.chat).back(), tok.token_text(s.n_vocab - 1));
    // The chat prompt's markers are the special tokens, the end of turn among them.
    const auto ids = tok.encode(format_chat(s.chat, {{"user", "hi"}}), true, true);
    EXPECT_NE(std::find(ids.begin(), ids.end(), s.n_vocab - 1), ids.end()) << "no end-of-turn token in the chat prompt";

    auto w = FileWeightProvider::open(*m);
    const std::vector<uint32> prompt = {1, 300, 17, 42, 99, 260, 261, 5, 77, 123, 200, 31};
    const uint32 n = uint32(prompt.size());
    std::vector<float> one(uint64(n) * s.n_vocab), split(one.size());
    CpuBackend a(1), b(1);
    ASSERT_TRUE(a.prepare(*w, n, n));
    ASSERT_TRUE(b.prepare(*w, n, 2));
    ASSERT_TRUE(a.forward(ForwardRequest{prompt.data(), n, 0, true, one.data()}));
    ASSERT_TRUE(b.forward(ForwardRequest{prompt.data(), n, 0, true, split.data()}));
    for (float x : one) ASSERT_TRUE(std::isfinite(x));
    for (uint32 p = 0; p < n; ++p) EXPECT_LT(test::nmse(split.data() + p * s.n_vocab, one.data() + p * s.n_vocab, s.n_vocab), 1e-10) << "position " << p;
}

INSTANTIATE_TEST_SUITE_P(Families, GeneratedFamily, ::testing::ValuesIn(kFamilyPresets), test::CaseName{});

// Generation stops at the end-of-turn token the file's metadata names: a copy of a generated
// model whose tokenizer.ggml.eot_token_id is the token greedy decoding picks first gives an
// empty reply; with ignore_eos the same run goes on.
TEST(GeneratedFamilies, GenerationStopsAtTheEndOfTurnTokenTheMetadataNames) {
    auto real = model_shape_preset("qwen2.5-7b");
    ASSERT_TRUE(real);
    const ModelShape s = tiny_of(*real);
    auto path = generate_model(s, DType::F32, test::tmp_dir() / "eot-source.gguf", 5);
    ASSERT_TRUE(path) << path.error().to_string();
    ConfigManager cfg;
    const std::vector<std::string> args = {"--disable-gpu", "--log-level", "ERROR", "--ctx-size", "64"};
    ASSERT_TRUE(cfg.load(args, [](std::string_view) { return std::optional<std::string>(); }));
    GenerationOptions o;
    o.temperature = 0.0f;
    o.max_tokens = 4;
    o.seed = 1;
    std::vector<uint32> first;
    {
        auto e = VulkanSymbioteEngine::create(*path, cfg);
        ASSERT_TRUE(e) << e.error().to_string();
        ASSERT_TRUE((*e)->generate_tokens({1, 300, 301}, o, nullptr, &first));
    }
    ASSERT_FALSE(first.empty());
    const Path eot = edited_file(*path, set_key("tokenizer.ggml.eot_token_id", gguf_u32(first[0])), "eot-first");
    auto e = VulkanSymbioteEngine::create(eot, cfg);
    ASSERT_TRUE(e) << e.error().to_string();
    EXPECT_TRUE((*e)->tokenizer().is_eog(first[0]));
    std::vector<uint32> got;
    ASSERT_TRUE((*e)->generate_tokens({1, 300, 301}, o, nullptr, &got));
    EXPECT_TRUE(got.empty()) << "generation went past the end-of-turn token";
    o.ignore_eos = true;
    ASSERT_TRUE((*e)->generate_tokens({1, 300, 301}, o, nullptr, &got));
    EXPECT_EQ(got, first);
}
