// The tile of attention_flash.comp (prompt attention without a score matrix in memory),
// declared once for the shader and its host side (src/backend/vulkan/FlashAttention.cpp).
// A workgroup of VKS_FLASH_THREADS invocations (VKS_FLASH_TPR per query row) takes
// VKS_FLASH_BQ query rows of one head and walks its keys in tiles of VKS_FLASH_BK rows staged
// in shared memory; heads of at most VKS_FLASH_HD_MAX dims (a multiple of 4). Shared memory:
// (BQ + BK) * (HD_MAX / 4 + 1) vec4 + BQ * (BK + 1) + THREADS floats = 28,032 bytes, under
// lavapipe's 32 KiB (a larger BK would not fit there).
#ifndef VKS_FLASH_TILE_H
#define VKS_FLASH_TILE_H

#define VKS_FLASH_BQ 32
#define VKS_FLASH_BK 16
#define VKS_FLASH_TPR 4
#define VKS_FLASH_THREADS 128  // VKS_FLASH_BQ * VKS_FLASH_TPR
#define VKS_FLASH_HD_MAX 128
#define VKS_FLASH_SHARED_BYTES 28032

// attention_flash_coop.comp (tensor cores): 4 subgroups of 32, 16 query rows each (64 a
// workgroup), 32-key tiles; shared memory: max(64, 2 * 32) * (HD_MAX / 8 + 1) uvec4 + per
// subgroup 16 x 36 floats of scratch and 16 x 5 uvec4 of P = 31,744 bytes.
#define VKS_FLASHC_THREADS 128
#define VKS_FLASHC_BQ 64
#define VKS_FLASHC_SHARED_BYTES 31744

#endif
