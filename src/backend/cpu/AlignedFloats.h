// AlignedFloats: a std::vector of floats whose storage starts on a 64-byte cache line. The CPU
// backend's activation buffers use it so that the batched product's 512-bit loads of x rows
// (CpuGemm; rows of n_embd / q_dim / n_ff floats, multiples of 16 in every model we run) never
// straddle two cache lines; malloc alone gives 16-byte alignment.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace vk_symbiote::cpu {

template <class T>
struct CacheLineAllocator {
    using value_type = T;
    static constexpr std::align_val_t kAlign{64};
    CacheLineAllocator() = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U>&) {}
    T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
    void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
    template <class U>
    bool operator==(const CacheLineAllocator<U>&) const { return true; }
};

using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

}  // namespace vk_symbiote::cpu
