#include "backend/KvBlockPool.h"

#include <algorithm>

namespace vk_symbiote {

KvBlockPool::KvBlockPool(const KvLayout& layout, CopyBlock copy, uint32 value_bytes)
    : layout_(layout), copy_(std::move(copy)), value_bytes_(value_bytes), refs_(layout.n_blocks, 0) {
    free_.reserve(layout.n_blocks);
    for (uint32 b = layout.n_blocks; b > 0; --b) free_.push_back(b - 1);  // block 0 handed out first
}

ExpectedVoid KvBlockPool::allocate(uint32& block) {
    if (free_.empty())
        return make_error(ErrorCode::OutOfMemory, "KV cache: all " + std::to_string(n_blocks()) + " blocks of " + std::to_string(block_positions()) +
                                                      " positions are in use (raise --kv-pool-tokens)");
    block = free_.back();
    free_.pop_back();
    refs_[block] = 1;
    peak_used_ = std::max(peak_used_, used_blocks());
    return {};
}

void KvBlockPool::unref(uint32 block) {
    VKS_CHECK(refs_.at(block) > 0, "KV block released more often than it was taken");
    if (--refs_[block] == 0) free_.push_back(block);
}

void KvBlockPool::truncate(KvBlockTable& t, uint32 n) {
    VKS_CHECK(n <= t.n_pos, "truncating a KV table past its filled positions");
    const uint32 keep = layout_.blocks_for(n);
    for (uint32 i = keep; i < t.blocks.size(); ++i) unref(t.blocks[i]);
    t.blocks.resize(std::min<size_t>(keep, t.blocks.size()));
    t.n_pos = n;
}

KvBlockTable KvBlockPool::share_prefix(const KvBlockTable& src, uint32 n) {
    VKS_CHECK(n <= src.n_pos, "sharing KV positions the source has not filled");
    KvBlockTable t;
    t.blocks.assign(src.blocks.begin(), src.blocks.begin() + layout_.blocks_for(n));
    for (uint32 b : t.blocks) ++refs_.at(b);
    t.n_pos = n;
    return t;
}

uint32 KvBlockPool::blocks_to_write(const KvBlockTable& t, uint32 from, uint32 to) const {
    if (to <= from) return 0;
    const uint32 P = block_positions(), kept = layout_.blocks_for(from);
    // The block holding `from` is kept by the drop when `from` is inside it; it is copied
    // when another table shares it.
    const bool cow = from % P != 0 && kept <= t.blocks.size() && refs_.at(t.blocks[kept - 1]) > 1;
    return layout_.blocks_for(to) - kept + (cow ? 1 : 0);
}

ExpectedVoid KvBlockPool::prepare_write(KvBlockTable& t, uint32 from, uint32 to) {
    VKS_CHECK(from <= t.n_pos && from <= to, "KV write leaves a gap");
    truncate(t, from);
    if (blocks_to_write(t, from, to) > free_blocks())
        return make_error(ErrorCode::OutOfMemory, "KV cache: positions [" + std::to_string(from) + ", " + std::to_string(to) + ") need " +
                                                      std::to_string(blocks_to_write(t, from, to)) + " blocks, " + std::to_string(free_blocks()) +
                                                      " of " + std::to_string(n_blocks()) + " are free (raise --kv-pool-tokens)");
    const uint32 P = block_positions();
    if (to > from && from % P != 0 && refs_[t.blocks.back()] > 1) {
        // Copy on write: this table's positions of the shared block move to a block of its own.
        uint32 copy = 0;
        VKS_TRY(allocate(copy));
        copy_(t.blocks.back(), copy, from % P);
        unref(t.blocks.back());
        t.blocks.back() = copy;
    }
    while (t.blocks.size() < layout_.blocks_for(to)) {
        uint32 b = 0;
        VKS_TRY(allocate(b));
        t.blocks.push_back(b);
    }
    t.n_pos = std::max(t.n_pos, to);
    return {};
}

}  // namespace vk_symbiote
