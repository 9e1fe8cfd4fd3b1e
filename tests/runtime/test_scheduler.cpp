// Scheduler: many sequences per forward pass on the CPU backend's paged KV cache. Greedy
// output is token-identical alone and inside a batch of mixed lengths; sequences join, leave
// and are cancelled between steps; a full KV pool makes new sequences wait, then run; a
// sequence starts from another's cached prefix (shared blocks, copy on write); every finish
// reason; and a backend without a batched pass runs them one at a time with the same results.
#include <gtest/gtest.h>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "model/LoadedModel.h"
#include "runtime/Scheduler.h"
#include "support/GreedyRun.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// A model, its weights and a CPU backend with a pool of kv_tokens positions.
struct Rig {
    std::shared_ptr<const LoadedModel> model;
    std::unique_ptr<FileWeightProvider> weights;
    std::unique_ptr<CpuBackend> backend;

    Rig(const std::string& file, uint32 n_ctx, uint64 kv_tokens, uint32 n_batch = 64) {
        auto m = LoadedModel::open(test::models_dir() / file);
        EXPECT_TRUE(m) << m.error().to_string();
        if (!m) return;
        model = *m;
        weights = FileWeightProvider::open(model);
        backend = std::make_unique<CpuBackend>(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        backend->set_kv_pool_tokens(kv_tokens);
        auto ok = backend->prepare(*weights, n_ctx, n_batch);
        EXPECT_TRUE(ok) << ok.error().to_string();
    }
    uint32 n_vocab() const { return model->config().n_vocab; }
    Scheduler scheduler(uint32 step_tokens = 64) { return Scheduler(*backend, model->tokenizer(), n_vocab(), step_tokens); }
};

SequenceRequest greedy(std::vector<uint32> prompt, uint32 max_tokens) { return test::greedy_request(std::move(prompt), max_tokens, 0); }

// Steps until nothing is left; checks the pool never holds more blocks than it has.
uint32 run_all(Scheduler& s, KvBlockPool* pool = nullptr) {
    uint32 steps = 0;
    while (s.has_work()) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st || st->sequences == 0) break;
        if (pool) {
            EXPECT_LE(pool->used_blocks(), pool->n_blocks());
        }
        ++steps;
    }
    return steps;
}

std::vector<uint32> alone(Rig& rig, const SequenceRequest& r) {
    Scheduler s = rig.scheduler();
    auto id = s.submit(r);
    EXPECT_TRUE(id) << id.error().to_string();
    run_all(s);
    return s.status(*id).tokens;
}

std::vector<uint32> head(const std::vector<uint32>& v, size_t n) { return {v.begin(), v.begin() + long(std::min(n, v.size()))}; }

}  // namespace

// Every top-level reference case: its prompt, a shorter prompt and a longer one, greedily
// continued together in one batch, give the tokens each gives alone; stories260K.once also
// the reference's greedy tokens. (The arch-* and hf-* models' random weights put near-ties in their
// greedy paths, where the last bits of a batched pass may decide: their logits are compared
// batched and alone in tests/cpu, CpuBatch.)
TEST(Scheduler, GreedyTokensAreTheSameAloneAndInABatchOfMixedLengths) {
    for (const std::string& name : test::list_reference_cases()) {
        auto rc = test::load_reference_case(name);
        ASSERT_TRUE(rc) << rc.error().to_string();
        if (rc->is_arch() || rc->is_hf()) continue;
        Rig rig(rc->model, 512, 3 * 512);
        ASSERT_TRUE(rig.backend);
        Scheduler s = rig.scheduler();
        const std::vector<uint64> ids = test::run_mixed_batch(s, *rig.backend->kv_pool(), *rc, [&rig](const SequenceRequest& r) { return alone(rig, r); });
        ASSERT_EQ(ids.size(), 3u);
        if (name == "stories260K.once") {  // the case whose greedy text must match exactly (tests/reference)
            EXPECT_EQ(head(s.status(ids[0]).tokens, rc->greedy_tokens.size()), rc->greedy_tokens) << name;
        }
        EXPECT_EQ(rig.backend->kv_pool()->used_blocks(), 0u) << name << ": finished sequences return their blocks";
    }
}

// Sequences join while others decode and leave at different times; a small step budget
// splits prompts into chunks beside the decode tokens.
TEST(Scheduler, SequencesJoinAndLeaveBetweenSteps) {
    Rig rig("stories260K.gguf", 128, 4 * 128);
    ASSERT_TRUE(rig.backend);
    const std::vector<uint32> p{1, 403, 407, 261, 378, 21, 384, 261, 1139 % 512, 30};
    Scheduler s = rig.scheduler(6);  // 6 tokens per pass: prompt chunks share passes with decode tokens
    auto a = *s.submit(greedy(p, 20));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.step());
    auto b = *s.submit(greedy(head(p, 5), 6));  // joins mid-run, leaves first
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.step());
    auto c = *s.submit(greedy({1, 66, 77, 88, 99, 111, 222, 333}, 12));
    run_all(s, rig.backend->kv_pool());
    EXPECT_EQ(s.status(a).tokens, alone(rig, greedy(p, 20)));
    EXPECT_EQ(s.status(b).tokens, alone(rig, greedy(head(p, 5), 6)));
    EXPECT_EQ(s.status(c).tokens, alone(rig, greedy({1, 66, 77, 88, 99, 111, 222, 333}, 12)));
    EXPECT_EQ(s.peak_sequences_per_pass(), 3u);
}

TEST(Scheduler, CancelEndsOneSequenceAndReturnsItsBlocks) {
    Rig rig("stories260K.gguf", 128, 2 * 128);
    ASSERT_TRUE(rig.backend);
    KvBlockPool& pool = *rig.backend->kv_pool();
    const std::vector<uint32> p{1, 403, 407, 261, 378};
    Scheduler s = rig.scheduler();
    auto a = *s.submit(greedy(p, 40));
    auto b = *s.submit(greedy(head(p, 3), 40));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.step());
    const uint32 before = pool.used_blocks();
    s.cancel(b);
    EXPECT_EQ(s.status(b).finish, FinishReason::Cancelled);
    EXPECT_LT(pool.used_blocks(), before);
    const size_t frozen = s.status(b).tokens.size();
    run_all(s, &pool);
    EXPECT_EQ(s.status(b).tokens.size(), frozen);
    EXPECT_EQ(s.status(a).tokens, alone(rig, greedy(p, 40)));

    // A waiting sequence can be cancelled too; a callback returning false cancels.
    auto c = *s.submit(greedy(p, 4));
    s.cancel(c);
    EXPECT_EQ(s.status(c).finish, FinishReason::Cancelled);
    SequenceRequest r = greedy(p, 10);
    int calls = 0;
    r.on_token = [&](const std::string&, uint32) { return ++calls < 3; };
    auto d = *s.submit(r);
    run_all(s);
    EXPECT_EQ(s.status(d).finish, FinishReason::Cancelled);
    EXPECT_EQ(s.status(d).tokens.size(), 3u);
    EXPECT_EQ(pool.used_blocks(), 0u);
}

// A pool of 4 blocks (64 positions): two sequences of up to 40 positions cannot both run;
// the second waits, then runs once the first has finished, with the same tokens as alone.
TEST(Scheduler, AFullPoolMakesNewSequencesWaitThenRun) {
    Rig rig("stories260K.gguf", 64, 64);
    ASSERT_TRUE(rig.backend);
    KvBlockPool& pool = *rig.backend->kv_pool();
    ASSERT_EQ(pool.n_blocks(), 4u);
    Scheduler s = rig.scheduler();
    const test::WaitingPair pair = test::run_until_second_starts(s, pool);
    ASSERT_TRUE(pair.b);
    run_all(s, &pool);
    EXPECT_EQ(pool.peak_used_blocks(), 3u);
    EXPECT_EQ(s.peak_sequences_per_pass(), 1u);
    EXPECT_EQ(s.status(pair.b).tokens, alone(rig, greedy(pair.prompt_b, 30)));
}

// B starts from A's cache: the positions where B's prompt agrees with A's tokens are shared
// blocks, the partly filled one copied when B writes into it; both give their tokens alone.
TEST(Scheduler, PrefixSharingWithCopyOnWrite) {
    Rig rig("stories260K.gguf", 128, 4 * 128);
    ASSERT_TRUE(rig.backend);
    KvBlockPool& pool = *rig.backend->kv_pool();
    Scheduler s = rig.scheduler();
    const test::PrefixPair pair = test::submit_prefix_pair(s);  // A's 21 tokens: one full block, 5 positions of the next
    ASSERT_TRUE(pair.b);
    const uint64 a = pair.a, b = pair.b;
    const std::vector<uint32>& p = pair.prompt_a;
    const std::vector<uint32>& pb = pair.prompt_b;
    const KvBlockTable& kb = s.find(b)->kv();
    const KvBlockTable& ka = s.find(a)->kv();
    EXPECT_EQ(kb.blocks[0], ka.blocks[0]);
    EXPECT_EQ(pool.ref_count(ka.blocks[0]), 2u);
    EXPECT_EQ(pool.ref_count(ka.blocks[1]), 2u) << "the partly filled block is shared until written";
    run_all(s, &pool);
    EXPECT_EQ(s.status(a).tokens, alone(rig, greedy(p, 10)));
    EXPECT_EQ(s.status(b).tokens, alone(rig, greedy(pb, 10)));
    EXPECT_GT(pool.used_blocks(), 0u) << "A keeps its cache";

    // C continues A's finished, kept conversation and takes its cache over.
    std::vector<uint32> pc = p;
    const std::vector<uint32> a_tokens = s.status(a).tokens;
    pc.insert(pc.end(), a_tokens.begin(), a_tokens.end());
    pc.push_back(42);
    SequenceRequest rc = greedy(pc, 5);
    rc.prefix_from = a;
    rc.release_prefix_source = true;
    auto c = *s.submit(rc);
    EXPECT_EQ(s.status(c).cached_prompt_tokens, 21u + 9u) << "A's last token was sampled, never computed";
    EXPECT_FALSE(s.find(a)->has_kv());
    run_all(s, &pool);
    EXPECT_EQ(s.status(c).tokens, alone(rig, greedy(pc, 5)));
    s.release(a);
    EXPECT_EQ(pool.used_blocks(), 0u);
}

TEST(Scheduler, FinishReasons) {
    Rig rig("stories260K.gguf", 16, 64);
    ASSERT_TRUE(rig.backend);
    Scheduler s = rig.scheduler();
    EXPECT_EQ(s.context_limit(), 16u);
    auto len = *s.submit(greedy({1, 403, 407}, 4));
    auto ctx = *s.submit(greedy({1, 403, 407}, 100));  // 16 positions: 13 tokens fit
    SequenceRequest stop = greedy({1, 403, 407}, 100);
    run_all(s);
    const std::string text = s.status(len).text;
    ASSERT_GE(text.size(), 3u);
    stop.stop = {text.substr(1, 2)};
    auto st = *s.submit(stop);
    run_all(s);
    EXPECT_EQ(s.status(len).finish, FinishReason::Length);
    EXPECT_EQ(s.status(len).tokens.size(), 4u);
    EXPECT_EQ(s.status(ctx).finish, FinishReason::ContextLimit);
    EXPECT_EQ(s.status(ctx).tokens.size(), 14u) << "the 14th token is sampled at position 15, never computed";
    EXPECT_EQ(s.status(st).finish, FinishReason::Stop);
    EXPECT_EQ(s.status(st).text, text.substr(0, 1)) << "the stop string and what follows are cut";

    auto too_long = s.submit(greedy(std::vector<uint32>(17, 5), 1));
    ASSERT_FALSE(too_long);
    EXPECT_NE(too_long.error().message.find("--ctx-size"), std::string::npos);
    EXPECT_FALSE(s.submit(greedy({}, 1)));
    EXPECT_FALSE(s.submit(greedy({1, 600}, 1)));
    SequenceRequest unknown = greedy({1}, 1);
    unknown.prefix_from = 999;
    EXPECT_FALSE(s.submit(unknown));
}

namespace {

// The CPU backend without its batched pass: the scheduler's serial path (as on Vulkan).
class SerialOnly final : public Backend {
public:
    explicit SerialOnly(CpuBackend& inner) : inner_(inner) {}
    std::string name() const override { return "serial-only"; }
    ExpectedVoid prepare(WeightProvider& w, uint32 n_ctx, uint32 n_batch) override { return inner_.prepare(w, n_ctx, n_batch); }
    ExpectedVoid forward(const ForwardRequest& req) override {
        ++passes;
        return inner_.forward(req);
    }
    void reset() override { inner_.reset(); }
    uint32 n_ctx() const override { return inner_.n_ctx(); }
    uint32 passes = 0;

private:
    CpuBackend& inner_;
};

}  // namespace

TEST(Scheduler, WithoutABatchedPassSequencesRunOneAtATime) {
    Rig rig("stories260K.gguf", 128, 128);
    ASSERT_TRUE(rig.backend);
    SerialOnly serial(*rig.backend);
    Scheduler s(serial, rig.model->tokenizer(), rig.n_vocab(), 64);
    EXPECT_FALSE(s.batched());
    EXPECT_NE(s.describe().find("one sequence at a time"), std::string::npos);
    const std::vector<uint32> p{1, 403, 407, 261, 378};
    SequenceRequest ra = greedy(p, 12);
    ra.keep_kv = true;
    auto a = *s.submit(ra);
    auto b = *s.submit(greedy(head(p, 3), 12));
    EXPECT_TRUE(s.status(b).waiting);
    run_all(s);
    EXPECT_EQ(s.peak_sequences_per_pass(), 1u);
    EXPECT_EQ(s.status(a).tokens, alone(rig, greedy(p, 12)));
    EXPECT_EQ(s.status(b).tokens, alone(rig, greedy(head(p, 3), 12)));

    // b ran after a: a's cache is gone, so c (prefix_from a) computes its whole prompt; d
    // continues c, kept, and computes only its new token.
    SequenceRequest rc = greedy(p, 3);
    rc.keep_kv = true;
    rc.prefix_from = a;
    auto c = *s.submit(rc);
    run_all(s);
    EXPECT_EQ(s.status(c).cached_prompt_tokens, 0u);
    std::vector<uint32> pd = p;
    const std::vector<uint32> c_tokens = s.status(c).tokens;
    pd.insert(pd.end(), c_tokens.begin(), c_tokens.end());
    SequenceRequest rd = greedy(pd, 3);
    rd.prefix_from = c;
    const uint32 passes = serial.passes;
    auto d = *s.submit(rd);
    run_all(s);
    EXPECT_EQ(s.status(d).cached_prompt_tokens, uint32(p.size()) + 2u);
    EXPECT_EQ(serial.passes - passes, 3u) << "one prompt pass of 1 token, then 2 decode passes";
    EXPECT_EQ(s.status(d).tokens, alone(rig, greedy(pd, 3)));
}
