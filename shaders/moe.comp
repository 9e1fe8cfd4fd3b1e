#version 450
// The row moves of a mixture-of-experts FFN (MoeParams): gather the tokens' rows by expert, or
// combine each token's weighted expert outputs into the residual. One invocation per element.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(std430, binding = 6) readonly buffer Table { uint table[]; };
layout(push_constant) uniform PC { MoeParams p; };

void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationIndex;
    if (i >= p.rows * p.n) return;
    const uint r = i / p.n, col = i % p.n;
    if (p.mode == 0u) {
        ybuf[p.y_offset + i] = xbuf[p.x_offset + table[p.table_offset + r] * p.n + col];
        return;
    }
    // The expert outputs summed first (from 0, in the CPU's order), then added to the residual.
    float acc = 0.0;
    for (uint j = 0u; j < p.k; ++j) {
        const uint e = p.table_offset + 2u * (r * p.k + j);
        acc += uintBitsToFloat(table[e + 1u]) * xbuf[p.x_offset + table[e] * p.n + col];
    }
    ybuf[p.y_offset + i] += acc;
}
