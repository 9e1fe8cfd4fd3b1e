// WeightPack: NomadPack, one unit of residency. A NomadPack is the static PackMetadata
// (what rows of which tensors, where in the file) plus, while resident in RAM, an
// aligned host buffer holding those bytes, a pin count and a state.
//
// Buffer layout: slice s occupies [slices[s].pack_offset, + slices[s].byte_size) of
// data(); the bytes are exactly the file bytes (no conversion, tensor dtype).
//
// Ownership / thread-safety: NomadPackManager owns every NomadPack and changes the
// state, the buffer and the pin count under its own mutex. Users receive a
// std::shared_ptr<NomadPack> from NomadPackManager::get_or_load_pack(); holding that
// pointer IS the pin (the pack is neither evicted nor its buffer freed until every
// copy is gone), so data() stays valid and immutable for as long as the pointer lives.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Host buffers are aligned (and sized in multiples of) 4 KiB: page / O_DIRECT friendly.
inline constexpr uint64 kPackBufferAlign = 4096;

inline constexpr uint64 align_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }
inline constexpr uint64 align_down(uint64 v, uint64 a) { return v / a * a; }

// Bytes of RAM a pack of `byte_size` occupies when resident (what the budget counts).
inline constexpr uint64 pack_buffer_bytes(uint64 byte_size) { return align_up(byte_size == 0 ? 1 : byte_size, kPackBufferAlign); }

// Move-only owning buffer (anonymous mmap) aligned to `align` (<= 4096) bytes; size
// rounded up to a multiple of it.
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    static Expected<AlignedBuffer> allocate(uint64 bytes, uint64 align = kPackBufferAlign);
    AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), size_(o.size_) { o.p_ = nullptr; o.size_ = 0; }
    AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { reset(); }

    uint8* data() const { return p_; }
    uint64 size() const { return size_; }  // allocated bytes (rounded up)
    bool empty() const { return p_ == nullptr; }
    void reset();

private:
    uint8* p_ = nullptr;
    uint64 size_ = 0;
};

// Where a pack currently lives.
enum class PackState : uint32 {
    OnDisk = 0,   // no RAM buffer
    Loading = 1,  // buffer allocated (counted in the budget), read in flight
    InRam = 2,    // buffer holds the pack's bytes
};
const char* pack_state_name(PackState s);

class NomadPack {
public:
    explicit NomadPack(const PackMetadata* meta) : meta_(meta) {}
    NomadPack(const NomadPack&) = delete;
    NomadPack& operator=(const NomadPack&) = delete;

    const PackMetadata& metadata() const { return *meta_; }
    uint64 id() const { return meta_->pack_id; }
    uint64 byte_size() const { return meta_->byte_size; }
    // RAM bytes while resident (what the budget counts).
    uint64 buffer_bytes() const { return pack_buffer_bytes(meta_->byte_size); }

    // Valid only while the caller holds a pin (a pointer from get_or_load_pack).
    const uint8* data() const { return buffer_.data(); }
    const uint8* slice_data(size_t slice) const { return buffer_.data() + meta_->slices[slice].pack_offset; }

    PackState state() const { return state_.load(std::memory_order_acquire); }
    uint32 pin_count() const { return pins_.load(std::memory_order_acquire); }

private:
    friend class NomadPackManager;
    const PackMetadata* meta_;  // owned by the manager's PackPlan (stable address)
    AlignedBuffer buffer_;
    std::atomic<PackState> state_{PackState::OnDisk};
    std::atomic<uint32> pins_{0};
};

}  // namespace vk_symbiote
