#include "engine/SequenceRequests.h"

#include <algorithm>
#include <random>

#include "model/Tokenizer.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

GenerationOptions generation_options(const SamplingConfig& s) {
    GenerationOptions o;
    o.max_tokens = s.max_tokens;
    o.temperature = s.temperature;
    o.top_k = s.top_k;
    o.top_p = s.top_p;
    o.min_p = s.min_p;
    o.repeat_penalty = s.repeat_penalty;
    o.repeat_last_n = s.repeat_last_n;
    if (s.seed_set) o.seed = s.seed;
    o.draft_ngram = s.draft_ngram;
    o.draft_ngram_size = s.draft_ngram_size;
    o.draft_max = s.draft_max;
    o.draft_min = s.draft_min;
    o.draft_adaptive = s.draft_adaptive;
    return o;
}

SamplerParams sampler_params(const GenerationOptions& opts) {
    SamplerParams sp;
    sp.temperature = opts.temperature;
    sp.top_k = opts.top_k;
    sp.top_p = opts.top_p;
    sp.min_p = opts.min_p;
    sp.repeat_penalty = opts.repeat_penalty;
    sp.repeat_last_n = opts.repeat_last_n;
    sp.frequency_penalty = opts.frequency_penalty;
    sp.presence_penalty = opts.presence_penalty;
    sp.seed = opts.seed ? *opts.seed : std::random_device{}();
    return sp;
}

DraftParams draft_params(const GenerationOptions& opts) {
    DraftParams d;
    d.ngram = opts.draft_ngram;
    d.ngram_size = std::max(1u, opts.draft_ngram_size);
    d.draft_max = opts.draft_max;
    d.draft_min = std::min(opts.draft_min, opts.draft_max);
    d.adaptive = opts.draft_adaptive;
    return d;
}

SequenceRequest sequence_request(const GenerationRequest& req, const Tokenizer& tok) {
    SequenceRequest r;
    r.prompt = req.prompt_tokens;
    if (r.prompt.empty()) {
        r.prompt = tok.encode(req.prompt, req.options.add_bos, req.options.parse_special);
        if (r.prompt.empty()) r.prompt.push_back(tok.bos_id());  // an empty prompt starts from BOS alone
    }
    r.sampling = sampler_params(req.options);
    r.max_tokens = req.options.max_tokens;
    r.ignore_eos = req.options.ignore_eos;
    r.logprobs = req.options.logprobs;
    r.top_logprobs = req.options.top_logprobs;
    r.stop = req.options.stop;
    r.on_token = req.on_token;
    r.prefix_from = req.prefix_from;
    r.release_prefix_source = req.release_prefix_source;
    r.keep_kv = req.keep_kv;
    r.draft = draft_params(req.options);
    return r;
}

}  // namespace vk_symbiote
