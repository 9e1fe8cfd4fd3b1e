// HfMetadata: a Hugging Face folder's config.json as the GGUF metadata llama.cpp's converter
// writes from it (`<arch>.embedding_length`, `<arch>.rope.freq_base`, ...), so that the one
// path from metadata to ModelConfig (ModelConfig::from_source and the model families) serves
// folders and GGUF files alike, with the converter's meaning, which is what the reference
// logits were computed with. Only the keys the model families read are written; the
// tokenizer comes from the folder's own files (load_hf_tokenizer), not from metadata.
//
// Refused, naming config.json and the key: an activation other than the family's
// (`hidden_act` / `hidden_activation`); sliding-window layers that no family layer
// pattern can express (a Gemma 3 `layer_types` that is not "n - 1 sliding, then one global").
#pragma once

#include <map>
#include <string>

#include "gguf/ModelSource.h"
#include "hf/HfConfig.h"

namespace vk_symbiote {

Expected<std::map<std::string, GGUFValue>> hf_converter_metadata(const HfConfig& config, const std::string& name);

}  // namespace vk_symbiote
