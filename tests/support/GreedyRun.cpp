#include "support/GreedyRun.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "backend/KvBlockPool.h"
#include "model/ModelGenerator.h"
#include "runtime/Scheduler.h"
#include "support/TestPaths.h"

namespace vk_symbiote::test {

SequenceRequest greedy_request(std::vector<uint32> prompt, uint32 max_tokens, uint32 draft_max, bool adaptive) {
    SequenceRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.draft.ngram = draft_max > 0;
    r.draft.draft_max = draft_max;
    r.draft.adaptive = adaptive;
    return r;
}

GreedyOutcome run_greedy(Backend& be, const LoadedModel& m, const std::vector<uint32>& prompt, uint32 max_tokens, uint32 draft_max,
                         bool adaptive, uint32 n_batch) {
    Scheduler s(be, m.tokenizer(), m.config().n_vocab, n_batch);
    auto id = s.submit(greedy_request(prompt, max_tokens, draft_max, adaptive));
    EXPECT_TRUE(id) << id.error().to_string();
    if (!id) return {};
    GreedyOutcome o;
    uint64 passes = 0;
    while (s.has_work()) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st || st->sequences == 0) break;
        ++passes;
    }
    const uint64 prompt_passes = (prompt.size() + n_batch - 1) / n_batch;
    o.tokens = s.status(*id).tokens;
    o.drafted = s.find(*id)->drafted_tokens();
    o.accepted = s.find(*id)->accepted_tokens();
    o.decode_passes = passes > prompt_passes ? passes - prompt_passes : 0;
    return o;
}

PrefixPair submit_prefix_pair(Scheduler& s) {
    PrefixPair pp;
    pp.prompt_a = {1};
    for (uint32 i = 0; i < 20; ++i) pp.prompt_a.push_back(260 + 7 * i % 200);
    SequenceRequest ra = greedy_request(pp.prompt_a, 10, 0);
    ra.keep_kv = true;
    auto a = s.submit(ra);
    EXPECT_TRUE(a) << a.error().to_string();
    if (!a) return pp;
    pp.a = *a;
    EXPECT_TRUE(s.step());  // A's prompt is in the cache
    pp.prompt_b = pp.prompt_a;
    pp.prompt_b.push_back(300);
    SequenceRequest rb = greedy_request(pp.prompt_b, 10, 0);
    rb.prefix_from = pp.a;
    auto b = s.submit(rb);
    EXPECT_TRUE(b) << b.error().to_string();
    if (!b) return pp;
    pp.b = *b;
    EXPECT_EQ(s.status(pp.b).cached_prompt_tokens, 21u);
    return pp;
}

WaitingPair run_until_second_starts(Scheduler& s, const KvBlockPool& pool) {
    WaitingPair wp;
    wp.prompt_a = {1, 403, 407, 261, 378, 21, 384, 261, 30, 11};
    wp.prompt_b.assign(wp.prompt_a.begin(), wp.prompt_a.begin() + 6);
    auto a = s.submit(greedy_request(wp.prompt_a, 30, 0));
    auto b = s.submit(greedy_request(wp.prompt_b, 30, 0));
    EXPECT_TRUE(a && b);
    if (!a || !b) return wp;
    wp.a = *a, wp.b = *b;
    EXPECT_FALSE(s.status(wp.a).waiting);
    EXPECT_TRUE(s.status(wp.b).waiting) << "3 + 3 blocks reserved > 4";
    uint32 steps_while_waiting = 0;
    while (s.status(wp.b).waiting) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st) break;
        ++steps_while_waiting;
        EXPECT_LE(pool.used_blocks(), pool.n_blocks());
    }
    EXPECT_EQ(s.status(wp.a).finish, FinishReason::Length);
    EXPECT_GT(steps_while_waiting, 10u);
    return wp;
}

std::vector<uint64> run_mixed_batch(Scheduler& s, const KvBlockPool& pool, const ReferenceCase& rc,
                                    const std::function<std::vector<uint32>(const SequenceRequest&)>& alone) {
    const uint32 n_gen = uint32(std::max<size_t>(rc.greedy_tokens.size(), 8));
    const std::vector<uint32>& p = rc.prompt_tokens;
    std::vector<uint32> longer = p;
    longer.insert(longer.end(), p.begin() + 1, p.end());
    const std::vector<SequenceRequest> reqs{greedy_request(p, n_gen, 0), greedy_request({p.begin(), p.begin() + long(std::min<size_t>(2, p.size()))}, n_gen + 3, 0),
                                            greedy_request(longer, n_gen - 2, 0)};
    std::vector<uint64> ids;
    for (const SequenceRequest& r : reqs) {
        auto id = s.submit(r);
        EXPECT_TRUE(id) << id.error().to_string();
        if (!id) return ids;
        ids.push_back(*id);
    }
    while (s.has_work()) {
        auto st = s.step();
        EXPECT_TRUE(st) << st.error().to_string();
        if (!st) break;
        EXPECT_GT(st->sequences, 0u) << rc.name;
        if (st->sequences == 0) break;
        EXPECT_LE(pool.used_blocks(), pool.n_blocks()) << rc.name;
    }
    EXPECT_EQ(s.peak_sequences_per_pass(), 3u) << rc.name;
    for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(s.status(ids[i]).finish, FinishReason::Length) << rc.name;
        EXPECT_EQ(s.status(ids[i]).tokens, alone(reqs[i])) << rc.name << " sequence " << i;
    }
    return ids;
}

Path copy_cycle_model(const std::string& shape_name, DType dtype, uint32 cycle) {
    const Path out = tmp_dir() / (shape_name + "-" + dtype_name(dtype) + "-cycle" + std::to_string(cycle) + ".gguf");
    if (std::filesystem::exists(out)) return out;
    auto shape = model_shape_preset(shape_name);
    EXPECT_TRUE(shape) << shape.error().to_string();
    if (!shape) return out;
    shape->copy_cycle = cycle;
    auto r = generate_model(*shape, dtype, out, 1);
    EXPECT_TRUE(r) << r.error().to_string();
    return out;
}

std::vector<uint32> cycle_prompt(const std::vector<uint32>& cycle, uint32 copies) {
    std::vector<uint32> p{1};  // BOS of a generated vocabulary
    for (uint32 i = 0; i < copies; ++i) p.insert(p.end(), cycle.begin(), cycle.end());
    return p;
}

}  // namespace vk_symbiote::test
