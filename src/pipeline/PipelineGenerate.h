// PipelineGenerate: one generation through a pipeline, driven by rank 0 (the other ranks run
// PipelineStage::serve meanwhile): the prompt in one step (chunks of n_batch), then one token
// per step, each sampled on rank 0 from the logits the last rank sent back, with the options
// of [sampling] (temperature 0: greedy), until max_tokens, an end-of-generation token or the
// end of the context.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "pipeline/PipelineStage.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::pipeline {

struct PipelineGeneration {
    std::vector<uint32> prompt_tokens;  // BOS included where the model asks for it
    std::vector<uint32> tokens;         // generated
    std::string text;                   // generated, decoded
    double prompt_s = 0;                // the prompt step, seconds
    double decode_s = 0;                // the token steps, seconds
};

// on_piece: each decoded piece as it is ready; false stops the generation.
Expected<PipelineGeneration> pipeline_generate(PipelineStage& stage, const SamplingConfig& s, const std::string& prompt,
                                               const std::function<bool(const std::string&)>& on_piece);

}  // namespace vk_symbiote::pipeline
