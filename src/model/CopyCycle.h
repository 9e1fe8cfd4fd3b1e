// CopyCycle: generated models whose greedy continuation follows a fixed cycle of N tokens, at
// the full shape and with every matrix still the seeded random values, so that a pass reads and
// multiplies exactly the bytes of a plain random model of that shape (a real 7B pass) while the
// text repeats: the workload n-gram drafting needs (vk_symbiote_genmodel --copy-cycle N).
//
// Mechanism. pi is the permutation that maps cycle[i] to cycle[(i + 1) % N] and fixes every other
// token. The output head's row pi(t) holds token t's embedding row (the same generated values),
// so logit_j = e_{pi^-1(j)} . norm(h). Every layer's input norms (attn_norm, ffn_norm; the QKV
// biases too) are scaled by a small `layer_scale`, so attention adds O(layer_scale) and the FFN
// O(layer_scale^2) to the residual: the last hidden state h stays close to the input token's
// embedding e_t and the argmax is pi(t), by a wide margin (random rows are nearly orthogonal:
// e_t . e_t ~ n_embd * std^2, e_s . e_t ~ sqrt(n_embd) * std^2). The norms are scaled rather
// than the output projections because norms are f32 vectors in a GGUF (a matrix scaled by
// ~1e-4 would sit in f16's subnormal range and lose its precision).
//
// The cycle's token ids are written as the metadata key kCopyCycleKey (u32 array, in order), so
// the benchmark builds its n-gram prompt from it (read_copy_cycle).
#pragma once

#include <string>
#include <vector>

#include "gguf/GGUFWriter.h"
#include "gguf/ModelSource.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct ModelShape;

inline constexpr const char* kCopyCycleKey = "vk_symbiote.copy_cycle";

// The shape's copy cycle is possible: no tied head (the head must differ from the embedding),
// no post-norms (they would undo the scaling), no router skew (it rewrites embedding column 0),
// and 2 <= copy_cycle <= the regular tokens available. InvalidArgument naming the field.
ExpectedVoid validate_copy_cycle(const ModelShape& shape);

// The cycle: shape.copy_cycle distinct regular token ids (not control, byte or chat tokens),
// chosen by the seed, in cycle order. Empty when shape.copy_cycle == 0.
std::vector<uint32> copy_cycle_tokens(const ModelShape& shape, uint64 seed);

// Row j of the head is embedding row head_rows[j] = pi^-1(j). Size n_vocab.
std::vector<uint32> copy_cycle_head_rows(uint32 n_vocab, const std::vector<uint32>& cycle);

// The factor on the layers' input norms: the residual's relative change over all layers is then
// about 0.05 (attention's output per element ~ n_embd * std^2 * scale, added n_layer times).
float copy_cycle_layer_scale(const ModelConfig& cfg, float weight_std);

// Whether generated tensors of this role are scaled by copy_cycle_layer_scale.
bool copy_cycle_scales_role(TensorRole role);

// A fill whose row r is row rows_from[r] of `source` (row_bytes each): the head from the
// embedding's fill.
TensorFillFn permuted_rows_fill(TensorFillFn source, std::vector<uint32> rows_from, uint64 row_bytes);

// The cycle a model was generated with (kCopyCycleKey); empty when the key is absent.
// InvalidArgument naming the source when the key is not an array of token ids < n_vocab.
Expected<std::vector<uint32>> read_copy_cycle(const ModelSource& source, uint32 n_vocab);

}  // namespace vk_symbiote
