#include "memory/FractalMemoryAllocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace vk_symbiote {

uint64 next_pow2(uint64 v) {
    if (v <= 1) return 1;
    return std::bit_ceil(v);
}

Expected<MemoryBlock> HostBlockSource::allocate_block(uint64 size) {
    if (size == 0 || size > max_)
        return make_error(ErrorCode::OutOfMemory, "host block source: block of " + std::to_string(size) +
                                                      " bytes exceeds max allocation " + std::to_string(max_));
    const uint64 rounded = (size + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, rounded);
    if (!p) return make_error(ErrorCode::OutOfMemory, "host block source: aligned_alloc(" + std::to_string(rounded) + ") failed");
    return MemoryBlock{0, p, size};
}

void HostBlockSource::free_block(const MemoryBlock& block) { std::free(block.mapped); }

FractalMemoryAllocator::FractalMemoryAllocator(BlockSource& source, uint64 block_size, uint64 min_chunk)
    : source_(source) {
    min_chunk_ = next_pow2(std::max<uint64>(min_chunk, 1));
    uint64 cap = std::bit_floor(std::max<uint64>(source.max_allocation_size(), 1));
    block_size_ = std::min(next_pow2(std::max(block_size, min_chunk_)), cap);
    min_chunk_ = std::min(min_chunk_, block_size_);
}

FractalMemoryAllocator::~FractalMemoryAllocator() {
    std::lock_guard lk(mu_);
    for (auto& b : blocks_)
        if (b.in_use) source_.free_block(b.mem);
}

uint32 FractalMemoryAllocator::levels() const {
    return uint32(std::countr_zero(block_size_) - std::countr_zero(min_chunk_)) + 1;
}

uint32 FractalMemoryAllocator::level_of(uint64 chunk) const {
    return uint32(std::countr_zero(block_size_) - std::countr_zero(chunk));
}

Expected<uint32> FractalMemoryAllocator::add_block(uint64 size, bool dedicated) {
    auto mem = source_.allocate_block(size);
    if (!mem) return mem.error();
    Block b;
    b.mem = *mem;
    b.dedicated = dedicated;
    if (!dedicated) {
        b.free_by_level.resize(levels());
        b.free_by_level[0].insert(0);
    }
    for (uint32 i = 0; i < blocks_.size(); ++i) {
        if (!blocks_[i].in_use) {
            blocks_[i] = std::move(b);
            return i;
        }
    }
    blocks_.push_back(std::move(b));
    return uint32(blocks_.size() - 1);
}

// Finds a free chunk at `level` in block bi, splitting a larger one if needed.
bool FractalMemoryAllocator::take_from(uint32 bi, uint32 level, uint64& offset) {
    auto& fl = blocks_[bi].free_by_level;
    int32 src = int32(level);
    while (src >= 0 && fl[uint32(src)].empty()) --src;
    if (src < 0) return false;
    uint64 off = *fl[uint32(src)].begin();
    fl[uint32(src)].erase(fl[uint32(src)].begin());
    // Split down: keep the lower half, free the upper half at each level.
    for (uint32 l = uint32(src) + 1; l <= level; ++l) fl[l].insert(off + (block_size_ >> l));
    offset = off;
    return true;
}

Expected<MemoryAllocation> FractalMemoryAllocator::allocate(uint64 size, uint64 alignment) {
    if (size == 0) return make_error(ErrorCode::InvalidArgument, "FractalMemoryAllocator: allocation of 0 bytes");
    if (alignment > 1 && !std::has_single_bit(alignment))
        return make_error(ErrorCode::InvalidArgument,
                          "FractalMemoryAllocator: alignment " + std::to_string(alignment) + " is not a power of two");
    std::lock_guard lk(mu_);
    const uint64 need = std::max({next_pow2(size), next_pow2(std::max<uint64>(alignment, 1)), min_chunk_});
    MemoryAllocation a;
    a.size = size;
    if (need > block_size_) {
        // Dedicated block: offset 0 of a fresh source block, aligned by the source.
        if (size > source_.max_allocation_size())
            return make_error(ErrorCode::OutOfMemory, "FractalMemoryAllocator(" + source_.name() + "): allocation of " +
                                                          std::to_string(size) + " bytes exceeds the max allocation size " +
                                                          std::to_string(source_.max_allocation_size()));
        auto bi = add_block(size, true);
        if (!bi) return bi.error();
        auto& b = blocks_[*bi];
        b.used = size;
        a.native = b.mem.native;
        a.mapped = b.mem.mapped;
        a.offset = 0;
        a.chunk_size = size;
        a.block_index = *bi;
        a.dedicated = true;
    } else {
        const uint32 level = level_of(need);
        uint64 off = 0;
        int32 found = -1;
        for (uint32 i = 0; i < blocks_.size() && found < 0; ++i)
            if (blocks_[i].in_use && !blocks_[i].dedicated && take_from(i, level, off)) found = int32(i);
        if (found < 0) {
            auto bi = add_block(block_size_, false);
            if (!bi) return bi.error();
            if (!take_from(*bi, level, off)) return make_error(ErrorCode::Internal, "FractalMemoryAllocator: fresh block has no free chunk");
            found = int32(*bi);
        }
        auto& b = blocks_[uint32(found)];
        b.used += need;
        a.native = b.mem.native;
        a.mapped = b.mem.mapped ? static_cast<char*>(b.mem.mapped) + off : nullptr;
        a.offset = off;
        a.chunk_size = need;
        a.block_index = uint32(found);
    }
    requested_ += size;
    ++live_;
    return a;
}

void FractalMemoryAllocator::free(const MemoryAllocation& a) {
    if (!a.valid()) return;
    std::lock_guard lk(mu_);
    VKS_CHECK(a.block_index < blocks_.size() && blocks_[a.block_index].in_use, "free of an allocation from an unknown block");
    auto& b = blocks_[a.block_index];
    requested_ -= a.size;
    --live_;
    if (b.dedicated) {
        source_.free_block(b.mem);
        b = Block{};
        b.in_use = false;
        return;
    }
    b.used -= a.chunk_size;
    uint64 off = a.offset;
    uint32 level = level_of(a.chunk_size);
    while (level > 0) {
        const uint64 buddy = off ^ (block_size_ >> level);
        auto& fl = b.free_by_level[level];
        auto it = fl.find(buddy);
        if (it == fl.end()) break;
        fl.erase(it);
        off = std::min(off, buddy);
        --level;
    }
    b.free_by_level[level].insert(off);
}

void FractalMemoryAllocator::trim() {
    std::lock_guard lk(mu_);
    for (auto& b : blocks_) {
        if (b.in_use && !b.dedicated && b.used == 0) {
            source_.free_block(b.mem);
            b = Block{};
            b.in_use = false;
        }
    }
}

AllocatorStats FractalMemoryAllocator::stats() const {
    std::lock_guard lk(mu_);
    AllocatorStats s;
    s.bytes_requested = requested_;
    s.live_allocations = live_;
    for (const auto& b : blocks_) {
        if (!b.in_use) continue;
        ++s.blocks;
        s.bytes_reserved += b.dedicated ? b.mem.size : block_size_;
        s.bytes_in_use += b.used;
        for (uint32 l = 0; l < b.free_by_level.size(); ++l)
            if (!b.free_by_level[l].empty()) s.largest_free_block = std::max(s.largest_free_block, block_size_ >> l);
    }
    s.total_free = s.bytes_reserved - s.bytes_in_use;
    return s;
}

std::vector<std::array<uint64, 3>> FractalMemoryAllocator::free_chunks() const {
    std::lock_guard lk(mu_);
    std::vector<std::array<uint64, 3>> out;
    for (uint32 i = 0; i < blocks_.size(); ++i) {
        if (!blocks_[i].in_use) continue;
        for (uint32 l = 0; l < blocks_[i].free_by_level.size(); ++l)
            for (uint64 off : blocks_[i].free_by_level[l]) out.push_back({i, off, block_size_ >> l});
    }
    return out;
}

}  // namespace vk_symbiote
