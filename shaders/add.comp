#version 450
// Residual add: y[i] += x[i], one invocation per element.
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { AddParams p; };

void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationIndex;
    if (i < p.n) ybuf[p.y_offset + i] += xbuf[p.x_offset + i];
}
