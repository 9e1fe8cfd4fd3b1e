#include "runtime/Session.h"

#include <algorithm>

namespace vk_symbiote {

Expected<std::vector<float>> Session::eval(const std::vector<uint32>& tokens, bool all_logits) {
    if (tokens.empty()) return make_error(ErrorCode::InvalidArgument, "eval: no tokens");
    for (uint32 t : tokens)
        if (t >= n_vocab_) return make_error(ErrorCode::InvalidArgument, "eval: token id " + std::to_string(t) + " outside the vocabulary (" + std::to_string(n_vocab_) + ")");
    if (uint64(pos_) + tokens.size() > backend_.n_ctx())
        return make_error(ErrorCode::InvalidArgument, "context full: position " + std::to_string(pos_) + " + " + std::to_string(tokens.size()) +
                                                          " tokens exceeds the context size " + std::to_string(backend_.n_ctx()) + " (raise --ctx-size)");
    std::vector<float> out(size_t(all_logits ? tokens.size() : 1) * n_vocab_);
    for (size_t b = 0; b < tokens.size(); b += n_batch_) {
        uint32 n = uint32(std::min<size_t>(n_batch_, tokens.size() - b));
        bool last_chunk = b + n == tokens.size();
        ForwardRequest req;
        req.tokens = tokens.data() + b;
        req.n_tokens = n;
        req.pos = pos_;
        req.all_logits = all_logits;
        std::vector<float> tmp;
        if (all_logits) {
            req.logits = out.data() + b * n_vocab_;
        } else if (last_chunk) {
            req.logits = out.data();
        } else {
            tmp.resize(n_vocab_);  // logits of a non-final chunk are not needed
            req.logits = tmp.data();
        }
        VKS_TRY(backend_.forward(req));
        pos_ += n;
        history_.insert(history_.end(), tokens.begin() + long(b), tokens.begin() + long(b + n));
    }
    return out;
}

void Session::rewind(uint32 pos) {
    if (pos >= pos_) return;
    pos_ = pos;
    history_.resize(pos);
}

void Session::reset() {
    backend_.reset();
    pos_ = 0;
    history_.clear();
}

}  // namespace vk_symbiote
