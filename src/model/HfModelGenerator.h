// HfModelGenerator: the random-weight models of ModelGenerator written as a Hugging Face
// folder (LlamaForCausalLM: config.json, model.safetensors or shards with an index, and the
// GGUF's vocabulary as tokenizer.model with tokenizer_config.json, special_tokens_map.json
// and generation_config.json), so benchmarks can compare the same model read from a folder
// and from a GGUF. Generated from the same seed, every tensor holds the GGUF's values in transformers'
// layout: Q/K rows in transformers' order (the GGUF's rows un-permuted), matrices [rows,
// cols] as in the GGUF, norm weights in the folder's dtype (as transformers saves them; the
// GGUF keeps them f32, so they are the GGUF's values rounded to that dtype).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "common/StreamedFileWriter.h"
#include "hf/HfFolderWriter.h"
#include "model/ModelGenerator.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// transformers' default max_shard_size ("5GB").
inline constexpr uint64 kDefaultHfShardBytes = 5'000'000'000;

// config.json of a generated model of this shape and dtype.
nlohmann::json hf_config_for_shape(const ModelShape& shape, DType dtype);
// The folder's tensors (transformers' names and layout) with fills producing their bytes.
Expected<std::vector<HfFolderTensor>> hf_tensors_for_shape(const ModelShape& shape, DType dtype, uint64 seed);

// Writes the folder `dir` (created if missing). Fails with InvalidArgument for a bad shape
// or dtype, Io when the disk lacks space (checked first) or a write fails.
ExpectedVoid generate_hf_model(const ModelShape& shape, DType dtype, const Path& dir, uint64 seed, uint64 max_shard_bytes = kDefaultHfShardBytes,
                               ProgressFn progress = {});

}  // namespace vk_symbiote
