// Session: one sequence being evaluated: the backend (which owns the KV cache), the
// current position and the tokens fed so far. Mutable per-call state lives here; the
// model (config, weights) is immutable and shared.
#pragma once

#include <vector>

#include "backend/Backend.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class Session {
public:
    Session(Backend& backend, uint32 n_vocab, uint32 n_batch) : backend_(backend), n_vocab_(n_vocab), n_batch_(n_batch) {}

    // Feeds tokens at the current position. Returns logits [all ? n : 1][n_vocab].
    // Batches larger than n_batch are split; the KV cache keeps growing.
    Expected<std::vector<float>> eval(const std::vector<uint32>& tokens, bool all_logits);
    void reset();
    // Keeps positions [0, pos) (pos <= pos()): the next eval() continues from pos, its K / V
    // overwriting what followed (a cached prefix reused).
    void rewind(uint32 pos);
    uint32 pos() const { return pos_; }
    uint32 n_ctx() const { return backend_.n_ctx(); }
    const std::vector<uint32>& history() const { return history_; }

private:
    Backend& backend_;
    uint32 n_vocab_;
    uint32 n_batch_;
    uint32 pos_ = 0;
    std::vector<uint32> history_;
};

}  // namespace vk_symbiote
