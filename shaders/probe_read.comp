#version 450
// Device-memory read bandwidth probe of vk_symbiote_benchmark (src/probe/VulkanComputeProbe).
// Grid-stride loop: invocation i reads uvec4 elements i, i + S, i + 2S, ... (S = invocations
// in the dispatch), four loads in flight per iteration, so each wave of loads is one
// contiguous, fully coalesced sweep. The XOR reduction is written only when it equals
// p.sentinel, which the fill pattern never produces: the loads cannot be optimised away
// and the writes cost nothing. Workgroup size: specialization constant 0.
#extension GL_GOOGLE_include_directive : enable
#include "ProbeParams.h"

layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;
layout(std430, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform PC { ProbeReadParams p; };

void main() {
    const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint i = gl_GlobalInvocationID.x;
    uvec4 acc = uvec4(0u);
    for (; i + 3u * stride < p.n_vec4; i += 4u * stride)
        acc ^= (src[i] ^ src[i + stride]) ^ (src[i + 2u * stride] ^ src[i + 3u * stride]);
    for (; i < p.n_vec4; i += stride) acc ^= src[i];
    const uint r = acc.x ^ acc.y ^ acc.z ^ acc.w;
    if (r == p.sentinel) dst[gl_GlobalInvocationID.x & 1023u] = r;
}
