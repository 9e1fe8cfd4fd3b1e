// CpuKvStore: the CPU backend's paged KV cache in RAM: KvLayout::n_blocks blocks of f32 rows
// (block, layer, K|V, position in block, kv_dim), with the KvBlockPool that hands them out.
// Pages are committed by the first write: a pool sized for many sequences costs RAM as its
// blocks are used, never more than KvLayout::bytes() (which the RAM budget counts).
#pragma once

#include <memory>

#include "backend/KvBlockPool.h"
#include "model/KvLayout.h"

namespace vk_symbiote {

class CpuKvStore {
public:
    // Allocates the blocks of `layout` and a fresh pool over them (every block free).
    ExpectedVoid allocate(const KvLayout& layout);

    KvBlockPool& pool() { return pool_; }
    const KvLayout& layout() const { return layout_; }
    // Row of position `slot` of `block`, layer `layer`, K or V: kv_dim floats; the rows of one
    // block, layer and kind are consecutive (row stride kv_dim).
    float* row(uint32 block, uint32 layer, bool v, uint32 slot) { return data_.get() + block * layout_.block_floats() + layout_.row_offset(layer, v, slot); }
    // The row of position pos of a sequence with block table t (pos < t.blocks.size() x P).
    float* row(const KvBlockTable& t, uint32 layer, bool v, uint32 pos) {
        return row(t.blocks[pos / layout_.block_positions], layer, v, pos % layout_.block_positions);
    }

private:
    void copy_block(uint32 src, uint32 dst, uint32 n);

    KvLayout layout_;
    std::unique_ptr<float[]> data_;  // (n_blocks, block_floats)
    KvBlockPool pool_;
};

}  // namespace vk_symbiote
