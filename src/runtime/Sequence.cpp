#include "runtime/Sequence.h"

#include <algorithm>

#include "runtime/Logprobs.h"

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

float* Sequence::chunk_logits(uint32 n) {
    if (req_.all_logits) return logits_.data() + uint64(n_past_) * n_vocab_;
    return n_past_ + n == tokens_.size() ? logits_.data() : nullptr;
}

void Sequence::computed(uint32 n) {
    n_past_ += n;
    if (pending() > 0) return;
    if (req_.all_logits || req_.max_tokens == 0) return finish(FinishReason::Length);
    sample();
}

void Sequence::sample() {
    // Log probabilities come from the raw logits, which the sampler's penalties change in place.
    if (req_.logprobs) raw_logits_.assign(logits_.begin(), logits_.begin() + n_vocab_);
    const uint32 next = sampler_.sample(logits_.data(), n_vocab_, tokens_);
    last_token_ = Clock::now();
    if (generated_.empty()) first_token_ = last_token_;
    if (!req_.ignore_eos && tok_.is_eog(next)) return finish(FinishReason::Stop);
    tokens_.push_back(next);
    generated_.push_back(next);
    if (req_.logprobs) logprobs_.push_back(token_logprobs(raw_logits_.data(), n_vocab_, next, req_.top_logprobs));
    if (!emit(next)) return finish(FinishReason::Cancelled);
    if (stops_.stopped()) return finish(FinishReason::Stop);
    if (generated_.size() >= req_.max_tokens) return finish(FinishReason::Length);
    // The new token goes to position n_past_: it must fit the context to be computed.
    if (n_past_ >= limit_) return finish(FinishReason::ContextLimit);
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
