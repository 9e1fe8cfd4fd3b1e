#include "packs/WeightPack.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace vk_symbiote {

Expected<AlignedBuffer> AlignedBuffer::allocate(uint64 bytes, uint64 align) {
    AlignedBuffer b;
    uint64 n = align_up(bytes == 0 ? 1 : bytes, align);
    // Straight from the kernel, not malloc: freed pack buffers go back to the OS at once
    // (glibc would keep them in its arenas and RSS would drift above the budget), and
    // mmap memory is page aligned, which is what O_DIRECT and the budget math assume.
    if (align > 4096) return make_error(ErrorCode::InvalidArgument, "pack buffer alignment " + std::to_string(align) + " above the page size");
    void* p = ::mmap(nullptr, size_t(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return make_error(ErrorCode::OutOfMemory, "cannot allocate a " + std::to_string(n) + "-byte pack buffer: " + std::strerror(errno));
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
    if (p_) ::munmap(p_, size_t(size_));
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
