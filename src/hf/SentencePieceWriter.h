// SentencePieceWriter: the bytes of a SentencePiece model file (tokenizer.model, a protobuf
// ModelProto) for a BPE vocabulary with byte fallback, as Llama-2-style checkpoints ship
// it: every piece with its score and type, trainer_spec (model type BPE, vocabulary size,
// byte_fallback, unk / bos / eos ids, no pad), normalizer_spec "identity" (dummy-prefix
// space as asked, whitespace kept as written). Used for generated folders.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct SentencePiece {
    std::string text;
    float score = 0.0f;
    uint32 type = 1;  // SentencePiece's: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
};

struct SentencePieceModel {
    std::vector<SentencePiece> pieces;
    int32 unk_id = 0, bos_id = 1, eos_id = 2;
    bool add_dummy_prefix = true;
};

std::vector<uint8> sentencepiece_model_bytes(const SentencePieceModel& model);

}  // namespace vk_symbiote
