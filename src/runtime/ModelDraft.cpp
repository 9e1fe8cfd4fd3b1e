#include "runtime/ModelDraft.h"

#include <algorithm>

namespace vk_symbiote {

namespace {
uint32 argmax(const float* row, uint32 n) { return uint32(std::max_element(row, row + n) - row); }
}  // namespace

ModelDraft::ModelDraft(Backend& backend, uint32 n_vocab, uint32 n_batch) : session_(backend, n_vocab, n_batch), n_vocab_(n_vocab) {}

void ModelDraft::rewind_to(std::span<const uint32> context) {
    const std::vector<uint32>& h = session_.history();
    const size_t most = std::min(h.size(), context.size() - 1);
    size_t same = 0;
    while (same < most && h[same] == context[same]) ++same;
    session_.rewind(uint32(same));
}

Expected<std::vector<uint32>> ModelDraft::propose(std::span<const uint32> context, uint32 max_tokens) {
    std::vector<uint32> out;
    if (context.empty() || max_tokens == 0) return out;
    // Positions needed: the context, then k - 1 drafted tokens fed back.
    const uint64 room = session_.n_ctx() > context.size() ? session_.n_ctx() - context.size() + 1 : 0;
    const uint32 k = uint32(std::min<uint64>(max_tokens, room));
    if (k == 0) return out;
    rewind_to(context);
    std::vector<uint32> feed(context.begin() + session_.pos(), context.end());  // (>= 1) not cached yet
    for (uint32 i = 0; i < k; ++i) {
        auto logits = session_.eval(feed, false);  // (1, n_vocab): the last fed position's
        if (!logits) return logits.error();
        evaluated_ += feed.size();
        out.push_back(argmax(logits->data(), n_vocab_));
        if (i + 1 < k) feed.assign(1, out.back());
    }
    return out;
}

}  // namespace vk_symbiote
