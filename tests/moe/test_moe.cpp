// Mixtures of experts: the router's choice (softmax, top-k, ties, renormalization), the CPU
// forward acquiring only the chosen experts (a prompt batch grouped by expert), the bytes the
// RAM pack tier reads per token, the oracle's expert popularity, prediction and eviction, and
// generated Mixtral / Qwen3-MoE shapes with skewed routers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "RoutingRecorder.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/MoeFfn.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "model/ModelGenerator.h"
#include "oracle/VitalityOracle.h"
#include "packs/PackWeightProvider.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using test::Recorder;

namespace {

Path arch_model(const std::string& name) { return test::models_dir() / "arch" / (name + ".gguf"); }

// Runs tokens [0, n) as one prompt batch, then `decode` more tokens one at a time (the tokens
// are a fixed sequence: what is chosen is what matters here, not the text).
std::vector<uint32> token_sequence(uint32 n, uint32 n_vocab) {
    std::vector<uint32> t(n);
    for (uint32 i = 0; i < n; ++i) t[i] = 3 + (i * 2654435761u) % (n_vocab - 3);
    return t;
}

void run(WeightProvider& w, const std::vector<uint32>& tokens, uint32 prompt, uint32 n_batch = 64) {
    CpuBackend be(2);
    ASSERT_TRUE(be.prepare(w, uint32(tokens.size()), n_batch));
    std::vector<float> logits(w.config().n_vocab);
    ASSERT_TRUE(be.forward({tokens.data(), prompt, 0, false, logits.data()}));
    for (uint32 p = prompt; p < tokens.size(); ++p) {
        auto f = be.forward({&tokens[p], 1, p, false, logits.data()});
        ASSERT_TRUE(f) << f.error().to_string();
    }
}

// The packs of one expert of one layer (PackMetadata::expert).
std::vector<uint64> expert_packs(const PackPlan& plan, int32 layer, int32 expert) {
    std::vector<uint64> ids;
    for (const PackMetadata& p : plan.packs)
        if (p.type == PackType::Expert && p.layer == layer && p.expert == expert) ids.push_back(p.pack_id);
    return ids;
}

}  // namespace

// ---- the router's choice ----

TEST(RouteToken, TopKOfTheSoftmaxRenormalized) {
    ModelConfig c;
    c.n_expert = 4, c.n_expert_used = 2;
    const float logits[] = {0.5f, 2.0f, -1.0f, 1.0f};
    cpu::ExpertChoice out[2];
    cpu::route_token(logits, c, out);
    EXPECT_EQ(out[0].expert, 1u);
    EXPECT_EQ(out[1].expert, 3u);
    // p1 / (p1 + p3) = 1 / (1 + e^-1): the softmax's denominator cancels.
    EXPECT_NEAR(out[0].weight, 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_NEAR(out[0].weight + out[1].weight, 1.0, 1e-6);
}

TEST(RouteToken, EqualProbabilitiesPreferTheLowerExpert) {
    ModelConfig c;
    c.n_expert = 5, c.n_expert_used = 2;
    const float logits[] = {1.0f, 3.0f, 0.0f, 3.0f, 3.0f};
    cpu::ExpertChoice out[2];
    cpu::route_token(logits, c, out);
    EXPECT_EQ(out[0].expert, 1u);
    EXPECT_EQ(out[1].expert, 3u);
    EXPECT_EQ(out[0].weight, 0.5f);
}

TEST(RouteToken, WithoutNormalizationTheSoftmaxWeightsTimesTheScale) {
    ModelConfig c;
    c.n_expert = 3, c.n_expert_used = 1;
    c.expert_weights_norm = false;
    c.expert_weights_scale = 2.0f;
    const float logits[] = {0.0f, 0.0f, std::log(2.0f)};
    cpu::ExpertChoice out[1];
    cpu::route_token(logits, c, out);
    EXPECT_EQ(out[0].expert, 2u);
    EXPECT_NEAR(out[0].weight, 2.0 * 0.5, 1e-6);  // softmax 2 / (1 + 1 + 2), times 2
}

// ---- the CPU forward asks only for the chosen experts ----

class MoeForward : public ::testing::TestWithParam<std::string> {};

// After each layer's router the forward acquires exactly the chosen experts, each matrix
// once per batch (a prompt batch is grouped by expert), and never another expert.
TEST_P(MoeForward, OnlyTheChosenExpertsAreAcquiredOncePerBatch) {
    auto fw = FileWeightProvider::open(arch_model(GetParam()));
    ASSERT_TRUE(fw) << fw.error().to_string();
    Recorder rec(**fw);
    const ModelConfig& c = rec.config();
    run(rec, token_sequence(24, c.n_vocab), 16);
    uint32 routings = 0;
    std::vector<uint32> pending;  // acquires each chosen expert still owes: 3 matrices
    for (const Recorder::Event& e : rec.events) {
        if (e.routing) {
            for (uint32 k : pending) EXPECT_EQ(k, 0u) << "an expert of the previous routing was not computed";
            ASSERT_EQ(e.counts.size(), c.n_expert);
            EXPECT_EQ(std::accumulate(e.counts.begin(), e.counts.end(), 0u), e.n_tokens * c.n_expert_used);
            pending.assign(c.n_expert, 0);
            for (uint32 x = 0; x < c.n_expert; ++x) pending[x] = e.counts[x] > 0 ? 3 : 0;
            routings++;
            continue;
        }
        if (!tensor_role_is_expert(e.id.role)) continue;
        ASSERT_FALSE(pending.empty()) << tensor_label(e.id) << " acquired before any routing";
        ASSERT_GT(pending[uint32(e.id.expert)], 0u) << tensor_label(e.id) << ": not chosen, or acquired twice in one batch";
        pending[uint32(e.id.expert)]--;
    }
    EXPECT_EQ(routings, c.n_layer * (1 + 8)) << "one routing per layer per forward pass (a prompt batch, then 8 tokens)";
}

INSTANTIATE_TEST_SUITE_P(ArchCases, MoeForward, ::testing::Values("llama-moe", "qwen3moe"), [](const auto& info) {
    std::string s = info.param;
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
});

// ---- packs: only the chosen experts are read ----

class MoePacks : public ::testing::TestWithParam<std::string> {};

// With nothing resident at the start of a token and no read-ahead, a token reads the dense
// part of the model (norms, attention, routers, the head) and the packs of the experts its
// routers chose, each once, and nothing else.
TEST_P(MoePacks, BytesReadPerTokenAreTheChosenExpertsPlusTheDensePart) {
    const Path model = arch_model(GetParam());
    auto loaded = LoadedModel::open(model, false);
    ASSERT_TRUE(loaded);
    const ModelConfig& c = (*loaded)->config();
    const std::vector<uint32> tokens = token_sequence(20, c.n_vocab);
    PackOptions o;
    o.max_pack_bytes = 4096;
    o.embedding_cache_rows = 16;
    o.oracle.prefetch_lookahead = 0;  // no read-ahead: every read is a demand
    o.activation_kv_bytes = estimate_activation_kv_bytes(c, uint32(tokens.size()), 8);
    auto min = PackWeightProvider::minimum_ram_budget(**loaded, o);
    ASSERT_TRUE(min);
    o.ram_budget_bytes = *min;
    auto pw = PackWeightProvider::open(*loaded, o);
    ASSERT_TRUE(pw) << pw.error().to_string();
    const PackPlan& plan = (*pw)->plan();
    NomadPackManager& mgr = (*pw)->manager();
    uint64 dense = 0, all_experts = 0;
    for (const PackMetadata& p : plan.packs) (p.type == PackType::Expert ? all_experts : dense) += p.byte_size;

    Recorder rec(**pw);
    CpuBackend be(2);
    ASSERT_TRUE(be.prepare(rec, uint32(tokens.size()), 8));
    std::vector<float> logits(c.n_vocab);
    ASSERT_TRUE(be.forward({tokens.data(), 8, 0, false, logits.data()}));
    for (uint32 pos = 8; pos < tokens.size(); ++pos) {
        ASSERT_TRUE(mgr.evict_until(mgr.pack_budget_bytes()));  // nothing resident
        const uint64 before = mgr.get_ram_stats().bytes_loaded;
        std::vector<uint64> loads(plan.packs.size());
        for (uint64 p = 0; p < loads.size(); ++p) loads[p] = mgr.pack_loads(p);
        rec.events.clear();
        ASSERT_TRUE(be.forward({&tokens[pos], 1, pos, false, logits.data()}));
        // The packs this token must read: the dense ones and its chosen experts'.
        std::vector<uint8> wanted(plan.packs.size(), 0);
        uint64 expected = dense;
        for (const PackMetadata& p : plan.packs) wanted[p.pack_id] = p.type != PackType::Expert;
        for (const Recorder::Event& e : rec.events) {
            if (!e.routing) continue;
            for (uint32 x = 0; x < c.n_expert; ++x) {
                if (e.counts[x] == 0) continue;
                for (uint64 id : expert_packs(plan, int32(e.layer), int32(x))) wanted[id] = 1, expected += plan.packs[id].byte_size;
            }
        }
        for (uint64 p = 0; p < loads.size(); ++p)
            EXPECT_EQ(mgr.pack_loads(p) - loads[p], wanted[p]) << "token " << pos << ": pack " << p << " (" << pack_type_name(plan.packs[p].type) << ", layer "
                                                               << plan.packs[p].layer << ", expert " << plan.packs[p].expert << ")";
        const uint64 read = mgr.get_ram_stats().bytes_loaded - before;
        EXPECT_EQ(read, expected) << "token " << pos;
        EXPECT_LT(read, dense + all_experts) << "token " << pos << " read every expert";
    }
}

INSTANTIATE_TEST_SUITE_P(ArchCases, MoePacks, ::testing::Values("llama-moe", "qwen3moe"), [](const auto& info) {
    std::string s = info.param;
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
});

// ---- the oracle: popularity, prediction, eviction ----

TEST(ExpertPopularity, ChoicesCountWithTheirAgeHalvingEveryHalfLife) {
    ExpertPopularity pop(2, 4, 1, 2.0f);
    EXPECT_FLOAT_EQ(pop.popularity(0, 3), 0.25f);  // the uniform prior n_used / n_expert
    EXPECT_TRUE(pop.hot(0, 0));                     // ties: the lower expert
    pop.record(0, {0, 0, 0, 2}, 2);                 // two tokens, both chose expert 3
    EXPECT_NEAR(pop.popularity(0, 3), 0.25 * 0.5 + 0.5, 1e-6);
    EXPECT_NEAR(pop.popularity(0, 0), 0.25 * 0.5, 1e-6);
    EXPECT_TRUE(pop.hot(0, 3));
    EXPECT_FALSE(pop.hot(0, 0));
    EXPECT_TRUE(pop.hot(1, 0)) << "another layer learns nothing from layer 0";
}

namespace {

// A plan of `layers` layers, each [norm][attention][router][expert 0]..[expert X-1] of one
// pack each, then the head: pack ids in use order.
std::vector<PackMetadata> moe_plan(int32 layers, int32 experts) {
    std::vector<PackMetadata> packs;
    auto add = [&](PackType t, int32 layer, int32 expert) {
        PackMetadata p;
        p.pack_id = packs.size();
        p.order = uint32(packs.size());
        p.type = t, p.layer = layer, p.expert = expert;
        p.byte_size = 4096;
        packs.push_back(p);
    };
    for (int32 l = 0; l < layers; ++l) {
        add(PackType::Norm, l, -1);
        add(PackType::Attention, l, -1);
        add(PackType::MLP, l, -1);
        for (int32 e = 0; e < experts; ++e) add(PackType::Expert, l, e);
    }
    add(PackType::Output, -1, -1);
    return packs;
}

constexpr uint64 kPerLayer = 3 + 4;  // packs of a layer of moe_plan(_, 4)
uint64 expert_pack(uint32 layer, uint32 e) { return layer * kPerLayer + 3 + e; }

bool holds(const std::vector<uint64>& v, uint64 id) { return std::find(v.begin(), v.end(), id) != v.end(); }

}  // namespace

TEST(OracleExperts, WindowHoldsTheLikelyExpertsBeforeTheRouterAndTheChosenOnesAfter) {
    OracleOptions o;
    o.experts_per_token = 2;
    VitalityOracle oracle(moe_plan(2, 4), o);
    ASSERT_TRUE(oracle.has_experts());
    // Before any routing: the prior's hottest experts (0 and 1) of both layers.
    auto w = oracle.predict_from(0, 2, 100);
    for (uint32 l = 0; l < 2; ++l)
        for (uint32 e = 0; e < 4; ++e) EXPECT_EQ(holds(w, expert_pack(l, e)), e < 2) << "layer " << l << " expert " << e;
    // Layer 0's router (cursor on it) chose experts 2 and 3: now those, exactly.
    oracle.record_access(2, true, 0.0f);
    oracle.record_routing(0, {0, 0, 1, 1}, 1);
    w = oracle.predict_from(2, 1, 100);
    for (uint32 e = 0; e < 4; ++e) EXPECT_EQ(holds(w, expert_pack(0, e)), e >= 2) << "expert " << e;
    const OracleStats s = oracle.stats();
    EXPECT_EQ(s.expert_hits, 0u);    // 0 and 1 were predicted
    EXPECT_EQ(s.expert_misses, 2u);  // 2 and 3 were chosen
    // The next pass of layer 0 (its norm pack used again): the prediction is back, and the
    // popularity has moved toward 2 and 3.
    oracle.record_access(0, true, 0.0f);
    EXPECT_GT(oracle.popularity().popularity(0, 2), oracle.popularity().popularity(0, 0));
}

TEST(OracleExperts, ChosenExpertsAreNearColdOnesFarAndEvictedFirst) {
    OracleOptions o;
    o.experts_per_token = 1;
    VitalityOracle oracle(moe_plan(1, 4), o);
    for (int t = 0; t < 40; ++t) oracle.record_routing(0, {1, 0, 0, 0}, 1);  // expert 0 always
    oracle.record_access(2, true, 0.0f);
    oracle.record_routing(0, {0, 1, 0, 0}, 1);  // this token: expert 1
    const uint64 cursor = 2;                     // on the router
    const uint64 n = oracle.cycle_packs();
    EXPECT_EQ(oracle.distance(expert_pack(0, 1), cursor), 2u) << "chosen and just ahead";
    EXPECT_GT(oracle.distance(expert_pack(0, 0), cursor), n - 1) << "hot but not chosen now: the next pass";
    EXPECT_LT(oracle.distance(expert_pack(0, 0), cursor), 3 * n) << "hot: about the next pass";
    EXPECT_GT(oracle.distance(expert_pack(0, 3), cursor), 10 * n) << "cold: many passes away";
    // Among resident packs the cold expert goes first, then the hot one, the chosen one last.
    EXPECT_EQ(oracle.choose_victim({expert_pack(0, 1), expert_pack(0, 0), expert_pack(0, 3)}, cursor), expert_pack(0, 3));
    EXPECT_EQ(oracle.choose_victim({expert_pack(0, 1), expert_pack(0, 0)}, cursor), expert_pack(0, 0));
}

// ---- generated mixtures of experts, skewed routers ----

TEST(GeneratedMoe, PresetsHaveTheirPublishedShapes) {
    auto mixtral = model_shape_preset("mixtral-8x7b");
    ASSERT_TRUE(mixtral);
    ModelConfig c = model_config_for_shape(*mixtral);
    EXPECT_EQ(c.architecture, "llama");
    EXPECT_EQ(c.n_expert, 8u);
    EXPECT_EQ(c.n_expert_used, 2u);
    EXPECT_EQ(c.n_ff_expert, 14336u);
    // 46.7 billion parameters: 93.4 GB in f16.
    EXPECT_NEAR(double(generated_model_bytes(*mixtral, DType::F16)) / 1e9, 93.4, 0.2);
    auto qwen = model_shape_preset("qwen3-30b-a3b");
    ASSERT_TRUE(qwen);
    c = model_config_for_shape(*qwen);
    EXPECT_EQ(c.architecture, "qwen3moe");
    EXPECT_EQ(c.n_expert, 128u);
    EXPECT_EQ(c.n_expert_used, 8u);
    EXPECT_EQ(c.n_ff_expert, 768u);
    EXPECT_TRUE(c.has_qk_norm);
    EXPECT_NEAR(double(generated_model_bytes(*qwen, DType::BF16)) / 1e9, 61.1, 0.3);  // 30.5 billion parameters
}

TEST(GeneratedMoe, ShapeMistakesAreErrorsNamingTheField) {
    auto s = model_shape_preset("tiny-moe");
    ASSERT_TRUE(s);
    ModelShape bad = *s;
    bad.n_expert_used = 9;
    auto e = validate_model_shape(bad);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("n_expert_used"), std::string::npos) << e.error().message;
    bad = *model_shape_preset("tiny");
    bad.router_skew = 2;
    e = validate_model_shape(bad);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("router_skew"), std::string::npos) << e.error().message;
    bad = *model_shape_preset("qwen3-30b-a3b");
    bad.n_expert = 0;
    e = validate_model_shape(bad);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("n_expert"), std::string::npos) << e.error().message;
}

namespace {

// tiny-moe (8 experts, 2 used) generated with this router skew, f32.
Path tiny_moe(float skew) {
    auto s = model_shape_preset("tiny-moe");
    EXPECT_TRUE(s);
    s->router_skew = skew;
    auto p = generate_model(*s, DType::F32, test::tmp_dir() / ("tiny-moe-skew" + std::to_string(int(skew * 10)) + ".gguf"), 7);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : Path();
}

// Of all the choices the routers made over `tokens`, the share of each layer's two most
// chosen experts (uniform routing: about 2 / 8).
double top2_share(const Path& model, const std::vector<uint32>& tokens) {
    auto fw = FileWeightProvider::open(model);
    EXPECT_TRUE(fw) << fw.error().to_string();
    if (!fw) return 0;
    Recorder rec(**fw);
    run(rec, tokens, 1);
    const ModelConfig& c = rec.config();
    std::vector<std::vector<uint32>> counts(c.n_layer, std::vector<uint32>(c.n_expert, 0));
    for (const Recorder::Event& e : rec.events)
        if (e.routing)
            for (uint32 x = 0; x < c.n_expert; ++x) counts[e.layer][x] += e.counts[x];
    uint64 top = 0, all = 0;
    for (auto& l : counts) {
        std::sort(l.begin(), l.end(), std::greater<>());
        top += l[0] + l[1];
        all += std::accumulate(l.begin(), l.end(), 0ull);
    }
    return all ? double(top) / double(all) : 0;
}

}  // namespace

TEST(GeneratedMoe, SkewedRoutersPreferAFewExperts) {
    const std::vector<uint32> tokens = token_sequence(64, 384);
    const double uniform = top2_share(tiny_moe(0), tokens), skewed = top2_share(tiny_moe(8), tokens);
    std::printf("[ tiny-moe ] share of the two most chosen experts: %.2f at skew 0, %.2f at skew 8\n", uniform, skewed);
    EXPECT_GT(skewed, uniform + 0.25);
    EXPECT_GT(skewed, 0.7);
}

namespace {

struct CacheRun {
    double expert_hit_rate = 0;  // chosen experts the oracle predicted before their router ran
    double bytes_per_token = 0;  // read from the model file
};

// Decodes `tokens` one at a time from packs under a RAM budget that holds the dense part and
// about a quarter of the experts besides, with the default read-ahead; figures over the
// second half (the popularity has learnt by then).
CacheRun cache_run(const Path& model, const std::vector<uint32>& tokens) {
    auto loaded = LoadedModel::open(model, false);
    EXPECT_TRUE(loaded);
    if (!loaded) return {};
    const ModelConfig& c = (*loaded)->config();
    PackOptions o;
    o.max_pack_bytes = 16384;
    o.embedding_cache_rows = 16;
    o.activation_kv_bytes = estimate_activation_kv_bytes(c, uint32(tokens.size()), 1);
    uint64 experts = 0;
    for (const TensorDesc& d : (*loaded)->registry().tensors()) experts += tensor_role_is_expert(d.id.role) ? d.byte_size : 0;
    auto min = PackWeightProvider::minimum_ram_budget(**loaded, o);
    EXPECT_TRUE(min);
    o.ram_budget_bytes = *min + experts / 4;
    auto pw = PackWeightProvider::open(*loaded, o);
    EXPECT_TRUE(pw) << pw.error().to_string();
    if (!pw) return {};
    CpuBackend be(2);
    EXPECT_TRUE(be.prepare(**pw, uint32(tokens.size()), 1));
    std::vector<float> logits(c.n_vocab);
    const uint32 half = uint32(tokens.size() / 2);
    ProviderStats at_half;
    for (uint32 p = 0; p < tokens.size(); ++p) {
        if (p == half) at_half = (*pw)->stats();
        auto f = be.forward({&tokens[p], 1, p, false, logits.data()});
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return {};
    }
    const ProviderStats end = (*pw)->stats();
    const double hits = double(end.expert_hits - at_half.expert_hits), misses = double(end.expert_misses - at_half.expert_misses);
    return {hits / std::max(1.0, hits + misses), double(end.bytes_read - at_half.bytes_read) / double(tokens.size() - half)};
}

}  // namespace

TEST(MoeOracle, ASkewedRouterRaisesTheExpertHitRateAndLowersTheBytesRead) {
    const std::vector<uint32> tokens = token_sequence(64, 384);
    const CacheRun uniform = cache_run(tiny_moe(0), tokens), skewed = cache_run(tiny_moe(8), tokens);
    std::printf("[ tiny-moe ] expert predictions hit %.0f%% / %.0f%%, %.0f / %.0f bytes read per token (skew 0 / 8)\n", 100 * uniform.expert_hit_rate,
                100 * skewed.expert_hit_rate, uniform.bytes_per_token, skewed.bytes_per_token);
    EXPECT_GT(skewed.expert_hit_rate, uniform.expert_hit_rate + 0.2);
    EXPECT_LT(skewed.bytes_per_token, 0.75 * uniform.bytes_per_token);
}
