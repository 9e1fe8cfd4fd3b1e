// SequenceRequests: a GenerationRequest (the public API's) as the SequenceRequest a scheduler
// runs: the prompt tokenized where only its text is given, the sampler's and the draft's
// parameters from the options. One conversion for the engine's Scheduler and for the pipeline's
// (serve --pipeline), so that both run a request the same way.
#pragma once

#include "runtime/Sequence.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

struct SamplingConfig;

// The options of [sampling] (--temperature, --max-tokens, --draft-*, ...) for one generation.
GenerationOptions generation_options(const SamplingConfig& s);
SamplerParams sampler_params(const GenerationOptions& opts);  // unset seed: a random one
DraftParams draft_params(const GenerationOptions& opts);      // no draft model (the caller sets it)

// Every field but draft.model; an empty prompt (no tokens, no text) starts from BOS alone.
SequenceRequest sequence_request(const GenerationRequest& req, const Tokenizer& tok);

}  // namespace vk_symbiote
