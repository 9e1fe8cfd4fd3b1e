#include "pipeline/PipelineBatch.h"

#include "pipeline/PipelineScheduler.h"

namespace vk_symbiote::pipeline {

ExpectedVoid pipeline_generate_batch(PipelineStage& stage, std::vector<BatchSequence>& seqs, uint32 max_tokens) {
    if (seqs.empty() || seqs.size() > stage.n_slots())
        return make_error(ErrorCode::InvalidArgument, "pipeline: " + std::to_string(seqs.size()) + " sequences for " + std::to_string(stage.n_slots()) +
                                                          " slots (--parallel)");
    for (const BatchSequence& q : seqs)
        if (q.prompt.empty() || q.prompt.size() + max_tokens > stage.n_ctx())
            return make_error(ErrorCode::InvalidArgument, "pipeline: a prompt of " + std::to_string(q.prompt.size()) + " tokens and " + std::to_string(max_tokens) +
                                                              " more exceed the context of " + std::to_string(stage.n_ctx()) + " (--ctx-size)");
    // All submitted before the first step: sequence s takes slot s, micro-batch s % M.
    PipelineScheduler sched(stage);
    std::vector<uint64> ids;
    for (const BatchSequence& q : seqs) {
        SequenceRequest r;
        r.prompt = q.prompt;
        r.sampling.temperature = 0;  // greedy
        r.max_tokens = max_tokens;
        r.ignore_eos = true;
        auto id = sched.submit(std::move(r));
        if (!id) return id.error();
        ids.push_back(*id);
    }
    for (;;) {
        auto ran = sched.step();
        if (!ran) return ran.error();
        if (!*ran) break;
    }
    for (size_t s = 0; s < seqs.size(); ++s) seqs[s].tokens = sched.status(ids[s]).tokens;
    return {};
}

}  // namespace vk_symbiote::pipeline
