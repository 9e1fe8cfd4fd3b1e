// Pipeline stages over MPI (mpirun on this machine, 2 and 3 ranks, the CPU path): the
// reference cases' logits and greedy tokens through the pipeline in several placements per
// rank, a rank that dies or hangs ending every rank within seconds with an error naming it,
// and a different model file on one rank refused at start.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "MpiRun.h"
#include "PipelineCases.h"
#include "model/TensorRegistry.h"
#include "packs/PackWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

class PipelineReference : public ::testing::TestWithParam<std::string> {};

}  // namespace

// Two ranks (resident, the prompt in several steps; then rank 1 from packs under a tiny
// --ram-gb), three ranks (rank 0 from
// packs where the model has the layers for it to hold more than the pack path's minimum leaves
// room for, else resident): every position's logits within the reference's tolerance.
// syn-spm-f16 (2 layers, a 32000-row head the CPU pins whole) runs resident on 2 ranks only.
TEST_P(PipelineReference, LogitsThroughTheStagesMatchTheReference) {
    SKIP_WITHOUT_MPIRUN();
    auto c = load_reference_case(GetParam());
    ASSERT_TRUE(c) << c.error().message;
    expect_matches_reference(*c, pipeline_logits(*c, 2, " --step-tokens 5"), "2 ranks resident, the prompt in steps of 5 tokens");
    auto g = open_model_source(models_dir() / c->model);
    ASSERT_TRUE(g);
    const uint32 n_layer = ModelConfig::from_source(**g)->n_layer;
    if (n_layer < 3) return;
    const std::string packs = " --max-pack-mb 0.00390625 --budgets ";
    expect_matches_reference(*c, pipeline_logits(*c, 2, packs + "0:1," + tiny_ram_entry(c->model)), "2 ranks, rank 1 from packs");
    if (n_layer >= 4)
        expect_matches_reference(*c, pipeline_logits(*c, 3, packs + tiny_ram_entry(c->model) + ",0:1,0:1"), "3 ranks, rank 0 from packs");
    else
        expect_matches_reference(*c, pipeline_logits(*c, 3, ""), "3 ranks resident");
}

INSTANTIATE_TEST_SUITE_P(Cases, PipelineReference,
                         ::testing::Values("stories260K.once", "syn-f32", "syn-f16", "syn-bf16", "syn-spm-f16", "arch-gemma2", "arch-qwen3", "arch-gemma3",
                                           "arch-llama-moe"),
                         test::CaseName{});

// `vk_symbiote generate --pipeline`: stories260K's greedy reference continuation, token for
// token, on 2 and 3 ranks, one of them streaming its layers from packs.
TEST(PipelineGenerate, GreedyTokensMatchTheReferenceOnTwoAndThreeRanks) {
    SKIP_WITHOUT_MPIRUN();
    auto c = load_reference_case("stories260K.once");
    ASSERT_TRUE(c) << c.error().message;
    const std::vector<uint32> want(c->greedy_tokens.begin(), c->greedy_tokens.begin() + 48);
    for (const auto& [ranks, extra] : std::vector<std::pair<uint32, std::string>>{
             {2, ""}, {3, " --max-pack-mb 0.00390625 --budgets 0:1," + tiny_ram_entry(c->model) + ",0:1"}}) {
        auto doc = generate_json(ranks, c->model, c->prompt, 48, extra);
        ASSERT_TRUE(doc.contains("tokens")) << doc.dump();
        EXPECT_EQ(doc["prompt_tokens"].get<std::vector<uint32>>(), c->prompt_tokens);
        EXPECT_EQ(doc["tokens"].get<std::vector<uint32>>(), want) << ranks << " ranks" << extra;
        EXPECT_EQ(doc["ranks"].get<uint32>(), ranks);
        ASSERT_EQ(doc["per_rank"].size(), ranks) << doc.dump();
        for (const auto& r : doc["per_rank"]) EXPECT_EQ(r["steps"].get<uint64>(), 48u) << r.dump();  // the prompt, then 47 tokens
    }
}

// The capacity case: the model's weights with each rank's KV / activations exceed a budget
// that one rank's share fits. One process under it streams packs from disk every token; two
// ranks under it each keep their layers resident, read from disk once.
TEST(PipelineCapacity, TwoRanksHoldWhatOneMustStreamFromDisk) {
    SKIP_WITHOUT_MPIRUN();
    auto g = open_model_source(models_dir() / "stories260K.gguf");
    ASSERT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    ASSERT_TRUE(cfg);
    const double act = double(estimate_activation_kv_bytes(*cfg, kCtx, 512, kCtx));
    auto reg = TensorRegistry::bind(*cfg, **g);
    ASSERT_TRUE(reg);
    const double weights = double(reg->total_bytes());
    const std::string gb = std::to_string((act + 0.8 * weights) / 1073741824.0);  // the whole model does not fit, half of it does
    auto one = generate_json(1, "stories260K.gguf", "Once upon a time", 16, " --max-pack-mb 0.00390625 --budgets 0:" + gb);
    auto two = generate_json(2, "stories260K.gguf", "Once upon a time", 16, " --max-pack-mb 0.00390625 --budgets 0:" + gb + ",0:" + gb);
    ASSERT_TRUE(one.contains("per_rank") && two.contains("per_rank")) << one.dump() << two.dump();
    EXPECT_EQ(one["tokens"], two["tokens"]);
    const auto& alone = one["per_rank"][0];
    EXPECT_NE(alone["placement"].get<std::string>().find("streamed in packs"), std::string::npos) << alone.dump();
    EXPECT_GT(alone["disk_bytes_read"].get<uint64>(), 2 * alone["ram_weight_bytes_per_token"].get<uint64>()) << alone.dump();
    for (const auto& r : two["per_rank"]) {
        EXPECT_NE(r["placement"].get<std::string>().find("resident in RAM"), std::string::npos) << r.dump();
        EXPECT_EQ(r["disk_bytes_read"].get<uint64>(), r["ram_weight_bytes_per_token"].get<uint64>()) << r.dump();  // each weight read once
    }
}

// Rank 1 exits mid-generation: mpirun ends the others within seconds, non-zero.
TEST(PipelineFailure, AKilledRankEndsEveryRankWithinSeconds) {
    SKIP_WITHOUT_MPIRUN();
    double s = 0;
    auto r = run_timed(mpirun(3) + build_program("vk_symbiote") + " generate --pipeline --temperature 0 --max-tokens 100 --prompt 'Once upon a time'" +
                           common_args("stories260K.gguf") + " --pipeline-exit-after 5 --pipeline-timeout 30",
                       s);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_LT(s, 20.0) << r.out;
    EXPECT_NE(r.out.find("rank 1 (host"), std::string::npos) << r.out;
}

// Rank 1 stops answering (a hung process, a cut network): the rank waiting for it ends every
// rank after --pipeline-timeout with an error naming rank 1 and its host, never a hang.
TEST(PipelineFailure, AHungRankIsNamedAfterTheTimeout) {
    SKIP_WITHOUT_MPIRUN();
    double s = 0;
    auto r = run_timed(mpirun(3) + build_program("vk_symbiote") + " generate --pipeline --temperature 0 --max-tokens 100 --prompt 'Once upon a time'" +
                           common_args("stories260K.gguf") + " --pipeline-stall-after 5 --pipeline-timeout 2",
                       s);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_LT(s, 20.0) << r.out;
    EXPECT_NE(r.out.find("receive from rank 1 (host"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nothing within 2 s"), std::string::npos) << r.out;
}

// Rank 1 was given another model file: refused at start, naming the rank, host and both files.
TEST(PipelineFailure, ADifferentModelFileOnOneRankIsRefused) {
    SKIP_WITHOUT_MPIRUN();
    const std::string vk = build_program("vk_symbiote") + " generate --pipeline --max-tokens 4 --prompt hi";
    double s = 0;
    auto r = run_timed(mpirun(1) + vk + common_args("syn-f32.gguf") + " : -np 1 " + vk + common_args("syn-f16.gguf"), s);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("rank 1 (host"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("different model file"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("syn-f16.gguf"), std::string::npos) << r.out;
}

// More ranks than layers, or a --budgets list of the wrong length: refused by name.
TEST(PipelineFailure, BadPlansAreRefused) {
    SKIP_WITHOUT_MPIRUN();
    const std::string vk = build_program("vk_symbiote") + " generate --pipeline --max-tokens 4 --prompt hi";
    double s = 0;
    auto many = run_timed(mpirun(3) + vk + common_args("syn-spm-f16.gguf"), s);
    EXPECT_NE(many.status, 0);
    EXPECT_NE(many.out.find("3 ranks for 2 layers"), std::string::npos) << many.out;
    auto wrong = run_timed(mpirun(2) + vk + common_args("stories260K.gguf") + " --budgets 0:1,0:1,0:1", s);
    EXPECT_NE(wrong.status, 0);
    EXPECT_NE(wrong.out.find("--budgets: 3 entries for 2 ranks"), std::string::npos) << wrong.out;
}

// vk_symbiote_benchmark under mpirun: prompt and generation speed and every rank's report.
TEST(PipelineBench, ReportsEveryRank) {
    SKIP_WITHOUT_MPIRUN();
    auto r = run_command(mpirun(3) + build_program("vk_symbiote_benchmark") + " --pipeline --json -p 32 -n 8" + common_args("stories260K.gguf"));
    ASSERT_EQ(r.status, 0) << r.out;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.out;
    EXPECT_GT(doc["prompt_tokens_per_s"].get<double>(), 0);
    EXPECT_GT(doc["gen_tokens_per_s"].get<double>(), 0);
    ASSERT_EQ(doc["per_rank"].size(), 3u) << r.out;
    uint64 weights = 0;
    for (const auto& rank : doc["per_rank"]) {
        EXPECT_EQ(rank["steps"].get<uint64>(), 9u) << rank.dump();   // the prompt, then 8 tokens
        EXPECT_EQ(rank["tokens"].get<uint64>(), 40u) << rank.dump();
        EXPECT_GT(rank["compute_s"].get<double>(), 0) << rank.dump();
        EXPECT_GE(rank["bubble"].get<double>(), 0) << rank.dump();
        EXPECT_LT(rank["bubble"].get<double>(), 1) << rank.dump();
        weights += rank["ram_weight_bytes_per_token"].get<uint64>();
    }
    // The ranks' weights together: every layer and the head once (the embedding is read by rows).
    auto g = open_model_source(models_dir() / "stories260K.gguf");
    ASSERT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    auto reg = TensorRegistry::bind(*cfg, **g);
    ASSERT_TRUE(reg);
    uint64 embd = 0;
    for (const TensorDesc& d : reg->tensors())
        if (d.id.role == TensorRole::TokenEmbd) embd = d.byte_size;
    EXPECT_EQ(weights, reg->total_bytes() - (cfg->tied_output ? 0 : embd));
}

// `perplexity --pipeline` over a held-out text: 2 ranks (rank 1 from packs under a tiny RAM
// budget) print the perplexity one process prints, on the CPU path.
TEST(PipelinePerplexity, TwoRanksGiveTheSingleProcessPerplexity) {
    SKIP_WITHOUT_MPIRUN();
    const std::string text = " --prompt-file " + heldout_text_file(120).string();
    auto one = run_command(build_program("vk_symbiote") + " perplexity --disable-gpu" + text + common_args("stories260K.gguf") + " 2>&1");
    ASSERT_EQ(one.status, 0) << one.out;
    auto two = run_command(mpirun(2) + build_program("vk_symbiote") + " perplexity --pipeline --disable-gpu --stats" + text + common_args("stories260K.gguf") +
                           " --max-pack-mb 0.00390625 --budgets 0:1," + tiny_ram_entry("stories260K.gguf") + " 2>&1");
    ASSERT_EQ(two.status, 0) << two.out;
    EXPECT_NE(two.out.find("weights streamed in packs"), std::string::npos) << two.out;
    EXPECT_NE(two.out.find("[3/"), std::string::npos) << two.out;  // several chunks, each from an empty cache
    const double a = printed_ppl(one.out), b = printed_ppl(two.out);
    EXPECT_GT(a, 1.0) << one.out;
    EXPECT_NEAR(b, a, 1e-4 * a) << one.out << two.out;
}

// Micro-batches: the benchmark's 4 sequences (distinct prompts) through 2 ranks as 2
// micro-batches in flight give each sequence the greedy tokens of one process running all 4 in
// one batch, and sequence 0 those of one process running it alone; every rank's report has
// every step (and a bubble).
TEST(PipelineMicroBatches, FourSequencesThroughTwoRanksMatchOneProcess) {
    SKIP_WITHOUT_MPIRUN();
    auto bench = [](uint32 ranks, uint32 parallel) {
        auto r = run_command(mpirun(ranks) + build_program("vk_symbiote_benchmark") + " --pipeline --json -p 20 -n 12 --parallel " + std::to_string(parallel) +
                             common_args("stories260K.gguf") + " --disable-gpu");
        EXPECT_EQ(r.status, 0) << r.out;
        auto doc = nlohmann::json::parse(r.out, nullptr, false);
        EXPECT_FALSE(doc.is_discarded()) << r.out;
        return doc;
    };
    auto one = bench(1, 4), alone = bench(1, 1), two = bench(2, 4);
    ASSERT_TRUE(one.contains("sequences") && alone.contains("sequences") && two.contains("sequences")) << one.dump() << alone.dump() << two.dump();
    ASSERT_EQ(two["sequences"].size(), 4u) << two.dump();
    EXPECT_EQ(two["sequences"], one["sequences"]);
    EXPECT_EQ(two["sequences"][0], alone["sequences"][0]);
    for (uint32 s = 0; s < 4; ++s) EXPECT_EQ(two["sequences"][s].size(), 12u) << two.dump();
    EXPECT_NE(two["sequences"][0], two["sequences"][1]) << "distinct prompts give distinct continuations";
    ASSERT_EQ(two["per_rank"].size(), 2u) << two.dump();
    for (const auto& r : two["per_rank"]) {
        EXPECT_EQ(r["tokens"].get<uint64>(), 4u * (20 + 11)) << r.dump();  // every prompt, then 11 tokens fed back per sequence
        EXPECT_GE(r["bubble"].get<double>(), 0) << r.dump();
        EXPECT_LT(r["bubble"].get<double>(), 1) << r.dump();
    }
}
