// PipelineBatch: several sequences through the stages at once, driven by rank 0 (the other
// ranks run PipelineStage::serve): the benchmark's use of PipelineScheduler (the micro-batches
// of `serve --pipeline`). The sequences are dealt into micro-batches (as many as there are
// ranks, at most one per sequence: sequence s in micro-batch s % M); each micro-batch is one
// forward step of its sequences' next chunks (prompt pieces of up to n_batch / its size tokens,
// then one token each). All micro-batches are kept in flight: while the last rank computes one,
// rank 0 computes the next, so that every rank works while the others do (with one sequence
// the stages work one after another: the bubble). Tokens are greedy (argmax) and run to
// max_tokens each (an end-of-generation token does not stop them: the benchmark's use).
#pragma once

#include <vector>

#include "pipeline/PipelineStage.h"

namespace vk_symbiote::pipeline {

struct BatchSequence {
    std::vector<uint32> prompt;  // at least one token
    std::vector<uint32> tokens;  // generated
};

// seqs.size() <= stage.n_slots() (sequence s in slot s); each prompt + max_tokens within the
// context. Errors: those, and the stages'.
ExpectedVoid pipeline_generate_batch(PipelineStage& stage, std::vector<BatchSequence>& seqs, uint32 max_tokens);

}  // namespace vk_symbiote::pipeline
