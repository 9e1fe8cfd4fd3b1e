// FlashAttention: the prompt-batch attention kernels. attention_flash.comp: a workgroup takes
// VKS_FLASH_BQ query rows of one head and walks their keys in tiles of VKS_FLASH_BK K / V rows
// staged in shared memory with an online softmax, so each K / V row is read from memory once
// per block of query rows (attention.comp reads it once per row) and no n x n score matrix
// exists. attention_flash_coop.comp: the same with Q K^T and P V on tensor cores
// (VK_NV_cooperative_matrix; f16 caches; 64-row blocks, 32-key tiles). Same bindings, push
// constants and cache layouts as op_attention (GQA, soft-cap, sliding windows over rings, a row
// split's GPU heads, paged pools where the pass is one sequence's chunk: PagedKv::one_sequence).
// op_attention calls them where flash_kernel() says.
#pragma once

#include "backend/vulkan/VulkanOps.h"

namespace vk_symbiote {

// Auto runs the flash kernel from this many rows (one full query block): below it, most of a
// block's rows would be idle, and the one-workgroup-per-row kernel keeps more of the GPU busy.
constexpr uint32 kFlashMinRows = 32;

enum class FlashKernel : uint8 { None, Scalar, Coop };

// The kernel op_attention runs for the shape in context c (None: attention.comp). Not paged, or
// paged with one sequence (a batch of several sequences keeps attention.comp's per-row tables);
// OpContext::prompt_attention: Classic never, Flash / Coop from 2 rows, Auto from kFlashMinRows
// rows; Scalar: head_dim a multiple of 4 and at most VKS_FLASH_HD_MAX, the tile's shared memory
// and workgroup on the device. Coop (OpContext::prompt_attention == Coop only): also f16
// caches, head_dim a multiple of 16 and the device's cooperative_matrix; else Scalar.
FlashKernel flash_kernel(const OpContext& c, const AttentionShape& s, bool f16_caches, const PagedKv* paged);

// op_attention's contract (VulkanOps.h) by kernel k (Scalar or Coop): out = causal attention of q
// over the caches (k_new / v_new non-null: f16 caches, the dispatch's rows f32 there and stored
// into the caches; paged: f16 and one_sequence required). Unsupported for a kernel the shape or
// device cannot run.
ExpectedVoid op_attention_flash(OpContext& c, FlashKernel k, const AttentionShape& s, ActView q, VkBuffer k_cache, VkBuffer v_cache,
                                ActView out, VkBuffer k_new, VkBuffer v_new, const PagedKv* paged = nullptr);

}  // namespace vk_symbiote
