#include "runtime/Perplexity.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

double token_nll(const float* logits, uint32 n_vocab, uint32 target) {
    double mx = logits[0];
    for (uint32 i = 1; i < n_vocab; ++i) mx = std::max<double>(mx, logits[i]);
    double sum = 0;
    for (uint32 i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - mx);
    return -(double(logits[target]) - mx - std::log(sum));
}

Expected<PerplexityResult> compute_perplexity(const std::vector<uint32>& toks, uint32 bos_id, uint32 n_ctx, uint32 n_vocab, const ChunkEvaluator& eval,
                                              const PerplexityProgress& progress) {
    if (n_ctx < 4) return make_error(ErrorCode::InvalidArgument, "perplexity: --ctx-size must be at least 4");
    uint32 n_chunks = uint32(toks.size() / n_ctx);
    if (n_chunks == 0)
        return make_error(ErrorCode::InvalidArgument, "perplexity: the text has " + std::to_string(toks.size()) + " tokens, fewer than one chunk of --ctx-size " +
                                                          std::to_string(n_ctx));
    PerplexityResult r;
    r.n_chunks = n_chunks;
    double nll_sum = 0;
    const uint32 first = n_ctx / 2;  // score positions first+1 .. n_ctx-1 (predicted from logits at first .. n_ctx-2)
    for (uint32 c = 0; c < n_chunks; ++c) {
        std::vector<uint32> chunk(toks.begin() + long(c) * n_ctx, toks.begin() + long(c + 1) * n_ctx);
        chunk[0] = bos_id;
        auto logits = eval(chunk);
        if (!logits) return logits.error();
        if (logits->size() != size_t(n_ctx) * n_vocab) return make_error(ErrorCode::Internal, "perplexity: evaluator returned wrong logits size");
        for (uint32 i = first; i + 1 < n_ctx; ++i) {
            const float* row = logits->data() + size_t(i) * n_vocab;
            if (!std::all_of(row, row + n_vocab, [](float v) { return std::isfinite(v); }))
                return make_error(ErrorCode::Format, "perplexity: chunk " + std::to_string(c + 1) + " of " + std::to_string(n_chunks) + ": the logits at position " +
                                                         std::to_string(i) + " are not finite (NaN or Inf)");
            nll_sum += token_nll(row, n_vocab, chunk[i + 1]);
            ++r.n_scored;
        }
        if (progress) progress(c, n_chunks, std::exp(nll_sum / double(r.n_scored)));
    }
    r.mean_nll = nll_sum / double(r.n_scored);
    r.ppl = std::exp(r.mean_nll);
    return r;
}

}  // namespace vk_symbiote
