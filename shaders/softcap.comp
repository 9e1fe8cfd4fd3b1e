#version 450
// Soft-cap in place, one invocation per element: y = cap * tanh(y / cap) (gemma2's final logits).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { SoftcapParams p; };

void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationIndex;
    if (i < p.n) ybuf[p.offset + i] = p.cap * tanh_exp(ybuf[p.offset + i] / p.cap);
}
