#include "support/GreedyRun.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <utility>

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
