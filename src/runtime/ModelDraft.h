// ModelDraft: drafts from a small model of the target's vocabulary (speculative decoding with
// a draft model, --draft-model). It owns one Session on the draft's backend (the CPU path: its
// weights and KV cache resident in RAM) and proposes greedily: the argmax of each position,
// so the draft is a point mass and Sampler::verify applies unchanged.
//
// The draft's KV cache follows the context it is asked about: propose() keeps the longest
// common prefix of what the cache holds and the context (rewind), computes the rest, then
// k - 1 more positions for its own tokens. After a verification the target's context is the
// accepted prefix plus one token, so the rejected drafted positions are rolled back at the
// next propose() (Session::rewind); nothing is computed twice for an accepted token.
// One sequence at a time: the engine refuses --draft-model with --parallel > 1.
#pragma once

#include <span>
#include <vector>

#include "backend/Backend.h"
#include "runtime/Session.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelDraft {
public:
    // backend: prepared for the draft model (its n_ctx bounds the context it can draft from).
    ModelDraft(Backend& backend, uint32 n_vocab, uint32 n_batch);

    // Up to max_tokens greedy tokens following context (prompt and generated tokens). Fewer
    // (possibly none) when the draft's context would overflow. Errors: the backend's.
    Expected<std::vector<uint32>> propose(std::span<const uint32> context, uint32 max_tokens);
    // Positions the draft's KV cache holds now (tests: the rollback).
    uint32 cached_positions() const { return session_.pos(); }
    uint64 evaluated_positions() const { return evaluated_; }  // positions computed so far

private:
    // Rewinds the session to its common prefix with context, keeping at least one token of
    // context to compute (its logits are the first draft token's).
    void rewind_to(std::span<const uint32> context);

    Session session_;
    uint32 n_vocab_;
    uint64 evaluated_ = 0;
};

}  // namespace vk_symbiote
