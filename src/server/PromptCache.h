// PromptCache: the server's kept conversations. A finished request's KV cache is kept (the
// engine's keep_kv) with the tokens it covers, so that a later request starting with the same
// tokens (the next turn of a chat, which resends the whole conversation; the same system prompt)
// computes only where it differs (the engine's prefix_from). At most `capacity` are kept, the
// least recently used given back first; the driver also gives one back whenever a request
// waits for KV blocks, so kept caches never hold a request up. Driver thread only.
#pragma once

#include <optional>
#include <vector>

#include "vk_symbiote/Generation.h"

namespace vk_symbiote::server {

class PromptCache {
public:
    explicit PromptCache(uint32 capacity) : capacity_(capacity) {}

    uint32 capacity() const { return capacity_; }
    size_t size() const { return entries_.size(); }
    // The kept generation whose tokens share the longest prefix with `prompt` (at least
    // kMinShared tokens), marked as used; none when nothing shares that much.
    std::optional<GenerationId> best_match(const std::vector<uint32>& prompt);
    // Keeps `id`, whose KV cache covers `tokens`; returns the ids to release (beyond capacity,
    // the least recently used).
    std::vector<GenerationId> keep(GenerationId id, std::vector<uint32> tokens);
    // Forgets the least recently used one and returns it (to release), if any.
    std::optional<GenerationId> evict_oldest();
    // Forgets every one and returns them all (to release).
    std::vector<GenerationId> clear();

    static constexpr uint32 kMinShared = 4;  // fewer shared tokens are not worth a lookup's bookkeeping

private:
    struct Entry {
        GenerationId id = 0;
        std::vector<uint32> tokens;  // prompt + generated: what its KV cache holds (the last one maybe not)
        uint64 used = 0;             // clock_ when kept or last matched
    };
    std::vector<Entry> entries_;
    uint64 clock_ = 0;
    uint32 capacity_ = 0;
};

}  // namespace vk_symbiote::server
