#version 450
// Weight copy by the compute units (streamed prompt passes): dst[i] = src[i], 16 bytes per
// element, four loads in flight per invocation (the source may be host memory across the bus).
// A few workgroups stride over the whole range, so the copy runs beside the weight kernels:
// how uploads overlap compute where the transfer queue is time-sliced with it (NVIDIA).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(std430, binding = 3) writeonly buffer Yvec { uvec4 yv[]; };

layout(push_constant) uniform PC { CopyParams p; };

void main() {
    const uint stride = p.groups * WG;
    uint i = gl_WorkGroupID.x * WG + gl_LocalInvocationIndex;
    for (; i + 3u * stride < p.n; i += 4u * stride) {
        const uvec4 a = w0v[i], b = w0v[i + stride], c = w0v[i + 2u * stride], d = w0v[i + 3u * stride];
        yv[i] = a;
        yv[i + stride] = b;
        yv[i + 2u * stride] = c;
        yv[i + 3u * stride] = d;
    }
    for (; i < p.n; i += stride) yv[i] = w0v[i];
}
