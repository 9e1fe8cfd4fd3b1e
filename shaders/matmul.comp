#version 450
// Tiled matrix-matrix product for prompt batches: a workgroup computes a tile of WG_X rows
// x WG_Y tokens, stepping over k in tiles of WG_X staged in shared memory (weights read
// once per WG_Y tokens instead of once per token). Invocation (lx, ly) owns (row0 + lx,
// token0 + ly); output writes are contiguous in lx. SWIGLU: W0 = gate, W1 = up, the
// output is silu(gate) * up. Grid: (ceil(rows / WG_X), ceil(n_tokens / WG_Y)).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(push_constant) uniform PC { MatmulParams p; };

// [row][k] and [token][k], padded by one to avoid bank conflicts.
shared float wt0[WG_X * (WG_X + 1)];
#if defined(SWIGLU)
shared float wt1[WG_X * (WG_X + 1)];
#endif
shared float xt[WG_Y * (WG_X + 1)];

void main() {
    const uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    const uint tid = gl_LocalInvocationIndex;
    const uint row0 = gl_WorkGroupID.x * WG_X, tok0 = gl_WorkGroupID.y * WG_Y;
    const uint TP = WG_X + 1;
    float acc0 = 0.0, acc1 = 0.0;
    for (uint k0 = 0; k0 < p.cols; k0 += WG_X) {
        for (uint e = tid; e < WG_X * WG_X; e += WG) {
            const uint r = e / WG_X, k = e % WG_X;
            const bool ok = row0 + r < p.rows && k0 + k < p.cols;
            const uint wi = (row0 + r) * p.cols + k0 + k;
            wt0[r * TP + k] = ok ? wload0(p.w_offset + wi) : 0.0;
#if defined(SWIGLU)
            wt1[r * TP + k] = ok ? wload1(p.w1_offset + wi) : 0.0;
#endif
        }
        for (uint e = tid; e < WG_Y * WG_X; e += WG) {
            const uint tt = e / WG_X, k = e % WG_X;
            const bool ok = tok0 + tt < p.n_tokens && k0 + k < p.cols;
            xt[tt * TP + k] = ok ? xbuf[p.x_offset + (tok0 + tt) * p.x_stride + k0 + k] : 0.0;
        }
        barrier();
        for (uint k = 0; k < WG_X; ++k) {
            const float xv = xt[ly * TP + k];
            acc0 += wmul(wt0[lx * TP + k], xv);
#if defined(SWIGLU)
            acc1 += wmul(wt1[lx * TP + k], xv);
#endif
        }
        barrier();
    }
    const uint r = row0 + lx, t = tok0 + ly;
    if (r >= p.rows || t >= p.n_tokens) return;
    const uint yi = p.y_offset + t * p.y_stride + r;
#if defined(SWIGLU)
    const float res = acc0 / (1.0 + exp(-acc0)) * acc1;
#else
    const float res = acc0;
#endif
    const float v = p.accumulate != 0u ? ybuf[yi] + res : res;
    ybuf[yi] = p.round_f16 != 0u ? round_to_f16(v) : v;
}
