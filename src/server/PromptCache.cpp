// PromptCache (PromptCache.h): a handful of entries, scanned linearly per request.
#include "server/PromptCache.h"

#include <algorithm>

namespace vk_symbiote::server {

namespace {
size_t shared_prefix(const std::vector<uint32>& a, const std::vector<uint32>& b) {
    const size_t most = std::min(a.size(), b.size());
    size_t n = 0;
    while (n < most && a[n] == b[n]) ++n;
    return n;
}
}  // namespace

std::optional<GenerationId> PromptCache::best_match(const std::vector<uint32>& prompt) {
    Entry* best = nullptr;
    size_t best_shared = kMinShared - 1;
    for (Entry& e : entries_) {
        const size_t n = shared_prefix(e.tokens, prompt);
        if (n > best_shared) {
            best = &e;
            best_shared = n;
        }
    }
    if (!best) return std::nullopt;
    best->used = ++clock_;
    return best->id;
}

std::vector<GenerationId> PromptCache::keep(GenerationId id, std::vector<uint32> tokens) {
    std::vector<GenerationId> released;
    if (capacity_ == 0) return {id};
    entries_.push_back({id, std::move(tokens), ++clock_});
    while (entries_.size() > capacity_) released.push_back(*evict_oldest());
    return released;
}

std::optional<GenerationId> PromptCache::evict_oldest() {
    if (entries_.empty()) return std::nullopt;
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.used < b.used; });
    const GenerationId id = oldest->id;
    entries_.erase(oldest);
    return id;
}

std::vector<GenerationId> PromptCache::clear() {
    std::vector<GenerationId> ids;
    for (const Entry& e : entries_) ids.push_back(e.id);
    entries_.clear();
    return ids;
}

}  // namespace vk_symbiote::server
