// PipelinePerplexity: `mpirun -np N vk_symbiote perplexity --pipeline --prompt-file F`, rank 0's
// part (the other ranks run PipelineStage::serve meanwhile): llama.cpp's perplexity
// (runtime/Perplexity: chunks of --ctx-size tokens, default 512, each from an empty cache, the
// second half of each scored) with every chunk's logits computed through the stages, so the
// number is the one a single process prints for the same text.
#pragma once

#include "pipeline/PipelineStage.h"
#include "runtime/Perplexity.h"

namespace vk_symbiote::pipeline {

// `text`: the whole corpus. Prints "[chunk/chunks] running PPL" lines on stdout as
// cmd_perplexity does. Errors: compute_perplexity's (a text shorter than one chunk, non-finite
// logits), a chunk longer than the stages' context, the link's.
Expected<PerplexityResult> pipeline_perplexity(PipelineStage& stage, const std::string& text, uint32 ctx_size);

}  // namespace vk_symbiote::pipeline
