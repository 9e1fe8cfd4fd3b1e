// RansCoder: order-0 static rANS for one block of byte symbols (after ryg_rans): 32-bit states
// renormalised 16 bits at a time, 12-bit probabilities, four interleaved states (symbol i uses
// state i % 4). Block: u16 n_syms | n_syms x (u8 symbol, u16 freq; sum 4096) | 4 x u32 states
// | u16 words. Decode checks the table, the final states and full consumption. No shared state.
#pragma once

#include <span>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Appends the encoding of `src` (at least one symbol) to `out`.
void rans_encode(std::span<const uint8> src, std::vector<uint8>& out);
// Decodes exactly dst.size() symbols; `src` must be exactly one encoded block.
ExpectedVoid rans_decode(std::span<const uint8> src, std::span<uint8> dst);

}  // namespace vk_symbiote
