// Sequence: one generation inside the Scheduler: its request, its KV cache blocks, its sampler
// and stop conditions, the tokens so far, and why it ended. The Scheduler decides when it runs
// and how many of its tokens each pass computes; the Sequence turns a pass's logits into its
// next token and checks every stop condition (end-of-generation token, stop strings,
// max_tokens, the token callback, its context limit).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "backend/KvBlockPool.h"
#include "model/Tokenizer.h"
#include "runtime/DraftLength.h"
#include "runtime/NgramDraft.h"
#include "runtime/Sampler.h"
#include "runtime/StopStrings.h"
#include "vk_symbiote/Generation.h"

namespace vk_symbiote {

struct SequenceRequest {
    std::vector<uint32> prompt;  // at least one token
    SamplerParams sampling;
    uint32 max_tokens = 256;
    bool ignore_eos = false;
    bool logprobs = false;       // GenerationOptions' fields of the same names
    uint32 top_logprobs = 0;
    std::vector<std::string> stop;
    TokenCallback on_token;
    std::optional<uint64> prefix_from;    // GenerationRequest's fields of the same names
    bool release_prefix_source = false;
    bool keep_kv = false;
    // Keep the logits of every prompt position and sample nothing (evaluate). With max_tokens 0
    // and all_logits false: the last prompt position's logits only.
    bool all_logits = false;
    DraftParams draft;  // speculative decoding (off unless draft.ngram)
};

class Sequence {
public:
    using Clock = std::chrono::steady_clock;
    enum class State { Waiting, Running, Finished };

    // limit: the most positions this sequence may hold (its context).
    Sequence(uint64 id, SequenceRequest req, const Tokenizer& tok, uint32 n_vocab, uint32 limit);

    uint64 id() const { return id_; }
    const SequenceRequest& request() const { return req_; }
    State state() const { return state_; }
    bool finished() const { return state_ == State::Finished; }
    FinishReason finish_reason() const { return finish_; }
    const std::vector<uint32>& tokens() const { return tokens_; }  // prompt, then generated
    uint32 n_past() const { return n_past_; }                      // positions computed
    uint32 n_generated() const { return uint32(generated_.size()); }
    uint32 pending() const { return uint32(tokens_.size()) - n_past_; }
    bool in_prompt() const { return n_past_ < req_.prompt.size(); }
    // Positions the sequence can ever hold: its prompt and max_tokens, within its context.
    uint32 max_positions() const;
    KvBlockTable& kv() { return kv_; }
    const KvBlockTable& kv() const { return kv_; }
    bool has_kv() const { return !kv_.blocks.empty() || kv_.n_pos > 0; }

    // Running from here; positions [0, cached) are already in the KV cache (a shared prefix).
    void start(uint32 cached);
    // Speculative decoding: drafts up to `room` tokens (fewer: the adaptive length, the
    // sequence's remaining max_tokens and context) for the next pass, which then computes
    // 1 + draft rows: the last token and the drafted ones. 0: no draft (a plain decode step).
    uint32 draft(uint32 room, const PassCost& cost);
    bool drafting() const { return !draft_.empty(); }
    // The tokens the next pass computes (n of them from position n_past()).
    const uint32* pass_tokens() const { return drafting() ? verify_tokens_.data() : tokens_.data() + n_past_; }
    // Whether the next pass wants the logits of each of its rows (a draft is verified row by row).
    bool pass_all_logits() const { return req_.all_logits || drafting(); }
    uint64 drafted_tokens() const { return drafted_; }
    uint64 accepted_tokens() const { return accepted_; }
    // Where a pass computing the next n tokens writes their logits: nullptr when none are wanted.
    float* chunk_logits(uint32 n);
    // A pass computed the next n tokens (their logits at chunk_logits(n)): samples the next
    // token when the known tokens are all computed, and finishes when a condition says so.
    // After a draft's pass, n_past() counts only the rows whose input was accepted: the
    // caller rolls the KV cache back to it.
    void computed(uint32 n);
    // Ends the generation (no effect when already finished): the held-back text is flushed.
    void finish(FinishReason r, std::string error = {});
    GenerationStatus status() const;
    // The logits kept: every prompt position (all_logits), else the last computed position's.
    std::vector<float> take_logits() { return std::move(logits_); }

private:
    void sample();
    // Up to `most` drafted tokens from the draft model, else the n-gram lookup.
    std::vector<uint32> propose(uint32 most);
    // Acceptance of a draft from its pass's rows (verify_logits_).
    void verify(uint32 n);
    // Takes `next` as the next token (raw: its row before the sampler's penalties, for
    // logprobs): false when the sequence finished (the token may not have been appended).
    bool take(uint32 next, const float* raw);
    bool end(FinishReason r) {
        finish(r);
        return false;
    }
    // Appends the text of token `id` and tells the callback; false: the callback cancelled.
    bool emit(uint32 id);

    uint64 id_;
    SequenceRequest req_;
    const Tokenizer& tok_;
    uint32 n_vocab_;
    uint32 limit_;
    State state_ = State::Waiting;
    FinishReason finish_ = FinishReason::None;
    std::string error_;
    KvBlockTable kv_;
    Sampler sampler_;
    TokenStreamDecoder stream_;
    StopStrings stops_;
    std::vector<uint32> tokens_;     // (prompt + generated)
    std::vector<uint32> generated_;
    std::vector<TokenLogprob> logprobs_;  // one per generated token when req_.logprobs
    std::vector<float> raw_logits_;       // (n_vocab) the last row before the sampler's penalties
    std::string text_;
    uint32 n_past_ = 0;
    uint32 cached_ = 0;
    std::vector<float> logits_;      // (all_logits ? prompt : 1, n_vocab)
    DraftLength draft_len_;
    std::vector<uint32> draft_;          // (k) drafted tokens awaiting their pass; empty: none
    std::vector<uint32> verify_tokens_;  // (1 + k) the last token, then the draft
    std::vector<float> verify_logits_;   // (1 + k, n_vocab) the pass's rows
    uint64 drafted_ = 0, accepted_ = 0;  // over the sequence's verifications
    Clock::time_point submitted_, first_token_, last_token_;
};

}  // namespace vk_symbiote
