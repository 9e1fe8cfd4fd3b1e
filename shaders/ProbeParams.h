// Push constants of the benchmark's device probes (probe_read.comp, probe_matmul.comp),
// declared once for C++ (src/probe/VulkanComputeProbe.cpp) and GLSL. 32-bit scalars only,
// so the std430 layout equals the C++ layout.
#ifndef VKS_PROBE_PARAMS_H
#define VKS_PROBE_PARAMS_H

#ifdef __cplusplus
#include <cstdint>
namespace vk_symbiote::gpu {
using uint = std::uint32_t;
#endif

// Read bandwidth: every uvec4 of src[0, n_vec4) is read once per dispatch.
struct ProbeReadParams {
    uint n_vec4;    // 16-byte elements in the source buffer
    uint sentinel;  // a value the reduction never takes; the result is written only if equal
};

// C[m][n] = sum_k A[m][k] * B[n][k]: A (m x k) and B (n x k) f16 row-major (k contiguous,
// read as packed uint pairs), C f32 row-major. m, n multiples of 64, k a multiple of 32.
struct ProbeMatmulParams {
    uint m;
    uint n;
    uint k;
};

#ifdef __cplusplus
}  // namespace vk_symbiote::gpu
#endif
#endif
