#include "runtime/Sequence.h"

#include <algorithm>

#include "config/Logger.h"
#include "runtime/Logprobs.h"
#include "runtime/ModelDraft.h"

namespace vk_symbiote {

namespace {
double ms_between(Sequence::Clock::time_point a, Sequence::Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }
}  // namespace

Sequence::Sequence(uint64 id, SequenceRequest req, const Tokenizer& tok, uint32 n_vocab, uint32 limit)
    : id_(id),
      req_(std::move(req)),
      tok_(tok),
      n_vocab_(n_vocab),
      limit_(limit),
      sampler_(req_.sampling),
      stream_(tok, DecodeStart::Continuation),  // the text continues the prompt
      stops_(req_.stop),
      tokens_(req_.prompt),
      draft_len_(req_.draft.draft_min, req_.draft.draft_max, req_.draft.adaptive),
      submitted_(Clock::now()) {
    logits_.assign(uint64(req_.all_logits ? req_.prompt.size() : 1) * n_vocab_, 0.0f);
}

uint32 Sequence::max_positions() const {
    // The last token sampled is never computed: prompt + max_tokens - 1 positions at most.
    const uint64 want = req_.prompt.size() + (req_.all_logits || req_.max_tokens == 0 ? 0 : uint64(req_.max_tokens) - 1);
    return uint32(std::min<uint64>(want, limit_));
}

void Sequence::start(uint32 cached) {
    state_ = State::Running;
    n_past_ = cached_ = cached;
}

uint32 Sequence::draft(uint32 room, const PassCost& cost) {
    draft_.clear();
    const DraftParams& p = req_.draft;
    if (!p.enabled() || finished() || in_prompt() || pending() != 1) return 0;
    const uint32 len = draft_len_.next(cost);
    // Rows past the last token: positions n_past_ + 1 .. n_past_ + k must stay within
    // max_positions() (the KV blocks admission reserved, the tokens max_tokens allows).
    const uint32 most = std::min({room, max_positions() - std::min(max_positions(), n_past_ + 1), len});
    if (most == 0 || most < p.draft_min) return 0;
    draft_ = propose(most);
    if (draft_.empty() || draft_.size() < p.draft_min) {
        draft_.clear();
        return 0;
    }
    verify_tokens_.assign(1, tokens_.back());
    verify_tokens_.insert(verify_tokens_.end(), draft_.begin(), draft_.end());
    verify_logits_.resize(verify_tokens_.size() * uint64(n_vocab_));
    return uint32(draft_.size());
}

std::vector<uint32> Sequence::propose(uint32 most) {
    const DraftParams& p = req_.draft;
    if (!p.model) return ngram_draft(tokens_, p.ngram_size, most);
    auto d = p.model->propose(tokens_, most);
    if (d) return std::move(*d);
    // A draft is only a guess: the sequence goes on decoding plainly, and says why once.
    VKS_LOG_WARN("draft model failed (sequence " << id_ << " decodes without drafts from here): " << d.error().message);
    req_.draft.model = nullptr;
    req_.draft.ngram = false;
    return {};
}

float* Sequence::chunk_logits(uint32 n) {
    if (drafting()) return verify_logits_.data();
    if (req_.all_logits) return logits_.data() + uint64(n_past_) * n_vocab_;
    return n_past_ + n == tokens_.size() ? logits_.data() : nullptr;
}

void Sequence::computed(uint32 n) {
    if (drafting()) return verify(n);
    n_past_ += n;
    if (pending() > 0) return;
    if (req_.all_logits || req_.max_tokens == 0) return finish(FinishReason::Length);
    sample();
}

void Sequence::sample() {
    // Log probabilities come from the raw logits, which the sampler's penalties change in place.
    if (req_.logprobs) raw_logits_.assign(logits_.begin(), logits_.begin() + n_vocab_);
    take(sampler_.sample(logits_.data(), n_vocab_, tokens_), raw_logits_.data());
}

void Sequence::verify(uint32 n) {
    // Row i's input is verify_tokens_[i]: the last token (i = 0), then draft_[i - 1]. Row i
    // decides the token after it; a drafted token kept makes row i + 1 valid as well.
    const std::vector<uint32> d = std::move(draft_);
    draft_.clear();
    ++n_past_;  // the last token's row
    uint32 kept = 0;
    for (uint32 i = 0; i < n; ++i) {
        float* row = verify_logits_.data() + uint64(i) * n_vocab_;
        if (req_.logprobs) raw_logits_.assign(row, row + n_vocab_);
        const bool has_draft = i < d.size();
        const uint32 next = has_draft ? sampler_.verify(row, n_vocab_, tokens_, d[i]) : sampler_.sample(row, n_vocab_, tokens_);
        if (!take(next, raw_logits_.data()) || !has_draft || next != d[i]) break;
        ++kept;
        ++n_past_;
    }
    drafted_ += d.size();
    accepted_ += kept;
    draft_len_.record(uint32(d.size()), kept);
}

bool Sequence::take(uint32 next, const float* raw) {
    last_token_ = Clock::now();
    if (generated_.empty()) first_token_ = last_token_;
    if (!req_.ignore_eos && tok_.is_eog(next)) return end(FinishReason::Stop);
    tokens_.push_back(next);
    generated_.push_back(next);
    if (req_.logprobs) logprobs_.push_back(token_logprobs(raw, n_vocab_, next, req_.top_logprobs));
    if (!emit(next)) return end(FinishReason::Cancelled);
    if (stops_.stopped()) return end(FinishReason::Stop);
    if (generated_.size() >= req_.max_tokens) return end(FinishReason::Length);
    // The new token goes to position n_past_: it must fit the context to be computed.
    if (n_past_ >= limit_) return end(FinishReason::ContextLimit);
    return true;
}

bool Sequence::emit(uint32 id) {
    const std::string piece = stops_.push(stream_.push(id));
    text_ += piece;
    return !req_.on_token || req_.on_token(piece, id);
}

void Sequence::finish(FinishReason r, std::string error) {
    if (finished()) return;
    state_ = State::Finished;
    finish_ = r;
    error_ = std::move(error);
    std::string tail = stops_.push(stream_.flush());
    tail += stops_.flush();
    text_ += tail;
    if (req_.on_token && !tail.empty()) req_.on_token(tail, UINT32_MAX);
}

GenerationStatus Sequence::status() const {
    GenerationStatus s;
    s.known = true;
    s.waiting = state_ == State::Waiting;
    s.finish = finish_;
    s.error = error_;
    s.tokens = generated_;
    s.text = text_;
    s.logprobs = logprobs_;
    s.prompt_tokens = uint32(req_.prompt.size());
    s.cached_prompt_tokens = cached_;
    if (!generated_.empty()) {
        s.time_to_first_token_ms = ms_between(submitted_, first_token_);
        s.decode_ms = ms_between(first_token_, last_token_);
    }
    return s;
}

}  // namespace vk_symbiote
