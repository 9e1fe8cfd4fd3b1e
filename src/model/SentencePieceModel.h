// Reads a SentencePiece model file (tokenizer.model: a serialized sentencepiece.ModelProto)
// into TokenizerParts for an Spm tokenizer, as llama.cpp's converter reads it: the pieces with
// their scores and types, the unknown / BOS / EOS / padding ids, and the dummy-prefix flag.
// The protobuf wire format is parsed here directly (a few fields of three messages); the file
// is hostile input: every length is checked against what is left, and an error names the file
// and the field. Only BPE models with the identity normalizer are supported; anything that
// would change how text is encoded (Unigram, a normalization rule, extra-whitespace removal,
// whitespace as suffix) is refused by name.
#pragma once

#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

Expected<TokenizerParts> read_sentencepiece_model(const Path& file);

}  // namespace vk_symbiote
