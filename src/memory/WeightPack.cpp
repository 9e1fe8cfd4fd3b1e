#include "memory/WeightPack.h"

#include <cstdlib>
#include <new>

namespace vk_symbiote {

Expected<AlignedBuffer> AlignedBuffer::allocate(uint64 bytes, uint64 align) {
    AlignedBuffer b;
    uint64 n = align_up(bytes == 0 ? 1 : bytes, align);
    void* p = std::aligned_alloc(size_t(align), size_t(n));
    if (!p) return make_error(ErrorCode::OutOfMemory, "cannot allocate a " + std::to_string(n) + "-byte pack buffer");
    b.p_ = static_cast<uint8*>(p);
    b.size_ = n;
    return b;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
        reset();
        p_ = o.p_;
        size_ = o.size_;
        o.p_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

void AlignedBuffer::reset() {
    std::free(p_);
    p_ = nullptr;
    size_ = 0;
}

const char* pack_state_name(PackState s) {
    switch (s) {
        case PackState::OnDisk: return "on-disk";
        case PackState::Loading: return "loading";
        case PackState::InRam: return "in-ram";
    }
    return "?";
}

}  // namespace vk_symbiote
