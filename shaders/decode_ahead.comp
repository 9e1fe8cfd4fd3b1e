#version 450
// Greedy decoding on the device (DecodeAhead.h): the next token's id never crosses to the host
// before the next token's pass reads it. One variant per define:
//   ARGMAX     one workgroup: ids[p.id_index] = the lowest index of the largest of the n logits
//              at X[p.src ..] (Sampler::argmax: the first maximum; NaN never wins, a NaN first
//              logit gives 0 as the host's scan does).
//   EMBED_ROW  one invocation per element: Y[p.dst + i] = X[ids[p.id_index] * n + i], the token's
//              row of the f32 embedding table (the family's scale applied when it was uploaded).
#extension GL_GOOGLE_include_directive : enable
#include "common.glsl"

layout(std430, binding = 6) buffer Ids { uint ids[]; };
layout(push_constant) uniform PC { DecodeAheadParams p; };

#if defined(ARGMAX)
const uint NONE = 0xffffffffu;
shared float best_v[WG];
shared uint best_i[WG];

// (v, i) against the best so far: larger, or equal at a lower index (NONE: nothing yet).
bool better(float v, uint i, float bv, uint bi) { return i != NONE && (bi == NONE || v > bv || (v == bv && i < bi)); }

void main() {
    const uint tid = gl_LocalInvocationIndex;
    float bv = 0.0;
    uint bi = NONE;
    for (uint i = tid; i < p.n; i += WG) {  // ascending: a later equal value never replaces
        const float v = xbuf[p.src + i];
        if (!isnan(v) && better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    best_v[tid] = bv;
    best_i[tid] = bi;
    barrier();
    uint p2 = 1;
    while (p2 < WG) p2 <<= 1;
    for (uint s = p2 >> 1; s > 0; s >>= 1) {
        if (tid < s && tid + s < WG && better(best_v[tid + s], best_i[tid + s], best_v[tid], best_i[tid])) {
            best_v[tid] = best_v[tid + s];
            best_i[tid] = best_i[tid + s];
        }
        barrier();
    }
    if (tid == 0) ids[p.id_index] = best_i[0] == NONE || isnan(xbuf[p.src]) ? 0u : best_i[0];
}
#else  // EMBED_ROW
void main() {
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationIndex;
    if (i < p.n) ybuf[p.dst + i] = xbuf[ids[p.id_index] * p.n + i];
}
#endif
