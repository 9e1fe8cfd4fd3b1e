#version 450
// RMSNorm, one workgroup per token: y = x * w / sqrt(mean(x^2) + eps). W0 = norm weight (from
// element w_offset). ADD: y += that instead (a post norm of a block's output joining the residual).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { RmsNormParams p; };

void main() {
    const uint t = gl_WorkGroupID.x;
    if (t >= p.n_tokens) return;
    const uint tid = gl_LocalInvocationIndex;
    const uint xb = p.x_offset + t * p.x_stride;
    const uint yb = p.y_offset + t * p.y_stride;
    float ss = 0.0;
    for (uint i = tid; i < p.n; i += WG) {
        const float v = xbuf[xb + i];
        ss += v * v;
    }
    ss = wg_sum(ss);
    const float inv = inversesqrt(ss / float(p.n) + p.eps);
#if defined(ADD)
    for (uint i = tid; i < p.n; i += WG) ybuf[yb + i] += xbuf[xb + i] * inv * wload0(p.w_offset + i);
#else
    for (uint i = tid; i < p.n; i += WG) ybuf[yb + i] = xbuf[xb + i] * inv * wload0(p.w_offset + i);
#endif
}
