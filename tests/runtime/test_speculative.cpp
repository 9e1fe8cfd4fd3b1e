// Speculative decoding on the CPU backend (Scheduler + SequenceRequest::draft): n-gram drafts
// and their acceptance (NgramDraft, DraftLength, Sampler::verify); greedy output token-identical
// to plain decoding for every top-level reference case, on the batched path, the serial path
// (no batched pass: Session::rewind) and with weights streamed from packs under a tiny RAM
// budget (evictions during the verification passes); the KV cache rolled back to the accepted
// positions after every pass; the sampled output's distribution unchanged (chi-square).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "packs/PackWeightProvider.h"
#include "runtime/Scheduler.h"
#include "support/GreedyRun.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

struct Rig {
    std::shared_ptr<const LoadedModel> model;
    std::unique_ptr<WeightProvider> weights;
    std::unique_ptr<CpuBackend> backend;
    PackWeightProvider* packs = nullptr;  // weights when streamed from packs

    // packs: weights through packs under the smallest RAM budget the provider accepts.
    Rig(const std::string& file, uint32 n_ctx, uint64 kv_tokens, bool use_packs = false) {
        const Path path = test::models_dir() / file;
        auto m = LoadedModel::open(path);
        EXPECT_TRUE(m) << m.error().to_string();
        if (!m) return;
        model = *m;
        if (use_packs) {
            auto p = tiny_packs(path, n_ctx);
            packs = p.get();
            weights = std::move(p);
        } else {
            weights = FileWeightProvider::open(model);
        }
        if (!weights) return;
        backend = std::make_unique<CpuBackend>(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        backend->set_kv_pool_tokens(kv_tokens);
        auto ok = backend->prepare(*weights, n_ctx, 64);
        EXPECT_TRUE(ok) << ok.error().to_string();
        if (!ok) backend.reset();
    }
    static std::unique_ptr<PackWeightProvider> tiny_packs(const Path& path, uint32 n_ctx) {
        PackOptions o;
        o.max_pack_bytes = 4096;
        o.embedding_cache_rows = 16;
        auto g = open_model_source(path);
        auto cfg = g ? ModelConfig::from_source(**g) : Expected<ModelConfig>(make_error(ErrorCode::Io, "open"));
        EXPECT_TRUE(cfg);
        if (!cfg) return nullptr;
        o.activation_kv_bytes = estimate_activation_kv_bytes(*cfg, n_ctx, 64);
        auto min = PackWeightProvider::minimum_ram_budget(path, o);
        EXPECT_TRUE(min);
        if (!min) return nullptr;
        o.ram_budget_bytes = *min;
        auto p = PackWeightProvider::open(path, o);
        EXPECT_TRUE(p) << p.error().to_string();
        return p ? std::move(*p) : nullptr;
    }
    uint32 n_vocab() const { return model->config().n_vocab; }
};

// The CPU backend without its batched pass: the scheduler's serial path (as in hybrid Vulkan).
class SerialOnly final : public Backend {
public:
    explicit SerialOnly(CpuBackend& inner) : inner_(inner) {}
    std::string name() const override { return "serial-only"; }
    ExpectedVoid prepare(WeightProvider& w, uint32 n_ctx, uint32 n_batch) override { return inner_.prepare(w, n_ctx, n_batch); }
    ExpectedVoid forward(const ForwardRequest& req) override { return inner_.forward(req); }
    void reset() override { inner_.reset(); }
    uint32 n_ctx() const override { return inner_.n_ctx(); }

private:
    CpuBackend& inner_;
};

// test::greedy_request's adaptive: the draft length from measured times (which tokens come out
// never depends on it; how many drafts are made does).
using test::greedy_request;

struct Outcome {
    std::vector<uint32> tokens;
    uint64 drafted = 0, accepted = 0, passes = 0;
};

// Runs one sequence to its end; after every pass the KV cache holds exactly the positions
// the sequence has computed (rejected drafts rolled back).
Outcome run_one(Backend& be, const Tokenizer& tok, uint32 n_vocab, const SequenceRequest& r) {
    Scheduler s(be, tok, n_vocab, 64);
    const uint32 used_before = be.kv_pool() ? be.kv_pool()->used_blocks() : 0;  // the backend's own sequence
    auto id = s.submit(r);
    EXPECT_TRUE(id) << id.error().to_string();
    Outcome o;
    while (id && s.has_work()) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st || st->sequences == 0) break;
        ++o.passes;
        const Sequence& q = *s.find(*id);
        if (s.batched() && !q.finished()) {
            EXPECT_EQ(q.kv().n_pos, q.n_past()) << "KV positions past the accepted ones after a pass";
            EXPECT_EQ(be.kv_pool()->used_blocks() - used_before, be.kv_pool()->layout().blocks_for(q.n_past()));
        }
    }
    if (!id) return o;
    o.tokens = s.status(*id).tokens;
    o.drafted = s.find(*id)->drafted_tokens();
    o.accepted = s.find(*id)->accepted_tokens();
    return o;
}

// The case's prompt followed by its own text again (a context that n-gram drafts match).
std::vector<uint32> repetitive(const std::vector<uint32>& prompt) {
    std::vector<uint32> p = prompt;
    p.insert(p.end(), prompt.begin() + 1, prompt.end());
    return p;
}

}  // namespace

TEST(NgramDraft, ContinuesTheLatestEarlierOccurrenceOfTheLongestSuffix) {
    const std::vector<uint32> ctx{1, 2, 3, 9, 1, 2, 3, 7, 5, 2, 3};
    // Suffix "2 3": latest earlier occurrence at 5, followed by 7 5 2 3.
    EXPECT_EQ(ngram_draft(ctx, 2, 3), (std::vector<uint32>{7, 5, 2}));
    // Suffix "5 2 3" never occurred before: "2 3" is used; past the context's end the stretch
    // 7 5 2 3 repeats (the pattern loops).
    EXPECT_EQ(ngram_draft(ctx, 3, 8), (std::vector<uint32>{7, 5, 2, 3, 7, 5, 2, 3}));
    EXPECT_EQ(ngram_draft(std::vector<uint32>{4, 5, 6}, 3, 4), std::vector<uint32>{});
    // A repeating pattern continues into the suffix itself and on, for the whole draft: a loop
    // of one or two tokens is drafted max_tokens long.
    EXPECT_EQ(ngram_draft(std::vector<uint32>{8, 8, 8}, 2, 4), (std::vector<uint32>{8, 8, 8, 8}));
    EXPECT_EQ(ngram_draft(std::vector<uint32>{1, 2, 1, 2, 1}, 1, 5), (std::vector<uint32>{2, 1, 2, 1, 2}));
    EXPECT_EQ(ngram_draft(ctx, 2, 0), std::vector<uint32>{});
}

TEST(DraftLength, AcceptanceAndTheLengthItChooses) {
    DraftLength d(1, 8, true);
    EXPECT_DOUBLE_EQ(d.acceptance(), 0.5);
    PassCost flat;
    for (uint32 r : {1u, 1u, 1u}) flat.record(r, 0.01);
    EXPECT_EQ(d.choose(flat), 8u) << "a flat pass cost: the longest draft yields the most per second";
    PassCost linear;  // a fixed cost (the weights' pass) and a cost per row
    for (uint32 r = 1; r <= 9; ++r) linear.record(r, 0.1 + 0.01 * r);
    EXPECT_NEAR(linear.predict(5), 0.15, 1e-9);
    for (int i = 0; i < 40; ++i) d.record(4, 0);  // every first drafted token rejected
    EXPECT_LT(d.acceptance(), 0.05);
    EXPECT_EQ(d.best_draft(linear), 1u);
    EXPECT_EQ(d.choose(linear), 0u) << "a plain step (0.11 s) beats 1.02 tokens per 0.12 s";
    for (int i = 0; i < 80; ++i) d.record(4, 4);  // all accepted
    EXPECT_GT(d.acceptance(), 0.95);
    EXPECT_EQ(d.choose(linear), 8u);
    EXPECT_NEAR(DraftLength::expected_tokens(0.5, 2), 1.75, 1e-12);
    EXPECT_EQ(DraftLength(1, 8, false).choose(linear), 8u);
}

// A plain step on its own path (the Vulkan hybrid decode) and flat verification passes that cost
// three times as much: drafting pays only at a high acceptance.
TEST(DraftLength, NoDraftWhenAPlainStepIsFaster) {
    PassCost step;
    for (int i = 0; i < 4; ++i) step.record(1, 0.07);
    EXPECT_NEAR(step.predict(9), 0.07, 1e-12) << "no multi-row pass measured: the one-row figure stands in";
    for (uint32 r : {3u, 9u, 5u, 17u}) step.record(r, 0.21);
    EXPECT_NEAR(step.predict(1), 0.07, 1e-12);
    EXPECT_NEAR(step.predict(6), 0.21, 1e-12);
    DraftLength d(1, 8, true);
    for (int i = 0; i < 40; ++i) d.record(8, 1);  // acceptance ~ 0.5
    EXPECT_EQ(d.choose(step), 0u);
    EXPECT_EQ(d.best_draft(step), 8u);
    for (int i = 0; i < 80; ++i) d.record(8, 8);  // ~ 1
    EXPECT_EQ(d.choose(step), 8u);
}

// Once a plain step is predicted faster, the adaptive length keeps probing: after kProbeEvery
// steps without a draft next() asks for one, and keeps asking at every step until a draft is
// verified (a step whose n-gram lookup found nothing must not use the probe up; with a model
// whose output repeats rarely, a probe used up at such a step left the length at 0 for good).
TEST(DraftLength, AProbeStaysDueUntilADraftIsVerified) {
    PassCost step;
    for (int i = 0; i < 4; ++i) step.record(1, 0.07);
    for (uint32 r : {3u, 9u, 5u, 17u}) step.record(r, 0.21);
    DraftLength d(1, 8, true);
    for (int i = 0; i < 40; ++i) d.record(8, 1);  // acceptance ~ 0.5: plain steps are faster
    ASSERT_EQ(d.choose(step), 0u);
    for (uint32 i = 0; i < DraftLength::kProbeEvery; ++i) EXPECT_EQ(d.next(step), 0u) << "step " << i;
    for (int i = 0; i < 5; ++i) EXPECT_EQ(d.next(step), d.best_draft(step)) << "the probe is still due (no draft was verified) at try " << i;
    d.record(8, 1);
    EXPECT_EQ(d.next(step), 0u) << "a verified draft took the probe";
    for (uint32 i = 1; i < DraftLength::kProbeEvery; ++i) EXPECT_EQ(d.next(step), 0u);
    EXPECT_GT(d.next(step), 0u);
}

// Greedy: n-gram drafts of 4 tokens (fixed) and up to 8 (adaptive) give the plain decode's
// tokens, batched and serial; stories260K.park drafts and accepts.
TEST(Speculative, GreedyTokensAreThoseOfPlainDecoding) {
    for (const std::string& name : test::list_reference_cases()) {
        auto rc = test::load_reference_case(name);
        ASSERT_TRUE(rc) << rc.error().to_string();
        if (rc->is_arch() || rc->is_hf()) continue;
        Rig rig(rc->model, 256, 256);
        ASSERT_TRUE(rig.backend);
        SerialOnly serial(*rig.backend);
        const Tokenizer& tok = rig.model->tokenizer();
        for (const std::vector<uint32>& prompt : {rc->prompt_tokens, repetitive(rc->prompt_tokens)}) {
            const Outcome plain = run_one(*rig.backend, tok, rig.n_vocab(), greedy_request(prompt, 40, 0));
            ASSERT_EQ(plain.tokens.size(), 40u) << name;
            EXPECT_EQ(plain.drafted, 0u);
            for (uint32 k : {4u, 8u}) {
                const bool adaptive = k == 8;
                const Outcome spec = run_one(*rig.backend, tok, rig.n_vocab(), greedy_request(prompt, 40, k, adaptive));
                EXPECT_EQ(spec.tokens, plain.tokens) << name << " draft-max " << k;
                EXPECT_EQ(spec.passes + spec.accepted, plain.passes) << name << ": each accepted token saves one pass";
                const Outcome ser = run_one(serial, tok, rig.n_vocab(), greedy_request(prompt, 40, k, adaptive));
                EXPECT_EQ(ser.tokens, plain.tokens) << name << " draft-max " << k << " serial";
                std::printf("[ %s ] prompt %zu, draft-max %u: %llu drafted, %llu accepted, %llu passes (plain %llu)\n", name.c_str(), prompt.size(), k,
                            (unsigned long long)spec.drafted, (unsigned long long)spec.accepted, (unsigned long long)spec.passes, (unsigned long long)plain.passes);
                if (name == "stories260K.park" && !adaptive) {  // (.once's greedy text does not repeat its context)
                    EXPECT_GT(spec.drafted, 0u) << name;
                    EXPECT_GT(spec.accepted, 0u) << name;
                }
            }
        }
        rig.backend->reset();  // the serial runs' own sequence
        EXPECT_EQ(rig.backend->kv_pool()->used_blocks(), 0u) << name;
    }
}

// Weights through packs under the smallest RAM budget: the verification passes evict and
// re-read packs; the tokens and the rollback are the same.
TEST(Speculative, GreedyTokensAreThoseOfPlainDecodingThroughPacksUnderATinyBudget) {
    auto rc = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(rc) << rc.error().to_string();
    Rig files(rc->model, 128, 128);
    Rig packs(rc->model, 128, 128, true);
    ASSERT_TRUE(files.backend && packs.backend);
    const std::vector<uint32> prompt = repetitive(rc->prompt_tokens);
    const Outcome plain = run_one(*files.backend, files.model->tokenizer(), files.n_vocab(), greedy_request(prompt, 48, 0));
    const uint64 evictions_before = packs.packs->manager().get_ram_stats().evictions;
    const Outcome spec = run_one(*packs.backend, packs.model->tokenizer(), packs.n_vocab(), greedy_request(prompt, 48, 6));
    EXPECT_EQ(spec.tokens, plain.tokens);
    EXPECT_GT(spec.accepted, 0u);
    EXPECT_GT(packs.packs->manager().get_ram_stats().evictions - evictions_before, spec.passes) << "packs evicted during the passes";
}

// A kept cache after speculative decoding holds only accepted positions: a follow-up that
// starts from it (prefix_from) continues exactly as plain decoding does.
TEST(Speculative, AKeptCacheContinuesAsPlainDecoding) {
    Rig rig("stories260K.gguf", 256, 512);
    ASSERT_TRUE(rig.backend);
    const Tokenizer& tok = rig.model->tokenizer();
    auto twice = [&](uint32 draft_max) {
        Scheduler s(*rig.backend, tok, rig.n_vocab(), 64);
        SequenceRequest a = greedy_request(tok.encode("Once upon a time, there was a little girl. Once upon a time", true, true), 30, draft_max, true);
        a.keep_kv = true;
        const uint64 first = *s.submit(a);
        while (s.has_work()) EXPECT_TRUE(s.step());
        EXPECT_EQ(s.find(first)->kv().n_pos, s.find(first)->n_past());
        std::vector<uint32> next = s.find(first)->tokens();
        next.push_back(next[1]);
        SequenceRequest b = greedy_request(next, 20, draft_max, true);
        b.prefix_from = first;
        const uint64 second = *s.submit(b);
        while (s.has_work()) EXPECT_TRUE(s.step());
        EXPECT_GT(s.status(second).cached_prompt_tokens, 30u);
        return s.status(second).tokens;
    };
    EXPECT_EQ(twice(6), twice(0));
}
