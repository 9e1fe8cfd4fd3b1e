#include "runtime/NgramDraft.h"

#include <algorithm>

namespace vk_symbiote {

namespace {
// Start of the latest occurrence of the last n tokens that begins before them; -1 when none.
int64 latest_occurrence(std::span<const uint32> ctx, uint32 n) {
    const size_t suffix = ctx.size() - n;
    for (int64 i = int64(suffix) - 1; i >= 0; --i)
        if (std::equal(ctx.begin() + i, ctx.begin() + i + n, ctx.begin() + int64(suffix))) return i;
    return -1;
}
}  // namespace

std::vector<uint32> ngram_draft(std::span<const uint32> context, uint32 ngram_size, uint32 max_tokens) {
    if (max_tokens == 0 || context.size() < 2) return {};
    for (uint32 n = uint32(std::min<size_t>(ngram_size, context.size() - 1)); n >= 1; --n) {
        const int64 at = latest_occurrence(context, n);
        if (at < 0) continue;
        // The continuation may run into the suffix itself and past the context's end: the
        // tokens from `from` to the end repeat (period size - from), as in an overlapping copy,
        // so a loop of p tokens is drafted max_tokens long rather than p.
        const size_t from = size_t(at) + n;
        std::vector<uint32> out;
        out.reserve(max_tokens);
        for (size_t i = from; out.size() < max_tokens; ++i) out.push_back(i < context.size() ? context[i] : out[i - context.size()]);
        return out;
    }
    return {};
}

}  // namespace vk_symbiote
