// HfModelSource: a Hugging Face folder as a ModelSource. The weights stay where they are:
// the tensor table points into HfCheckpoint's address space (the shards end to end), with
// transformers' names mapped to the engine's (HfTensorNames) and each layout convention
// handled here, once, so that everything above reads ordinary tensors:
// - Q / K rows (Llama, Mistral, Mixtral): kept in transformers' order; qk_rows_rotate_half()
//   tells ModelConfig to run them with the rotate-half (NeoX) rope, the same function as the
//   converter's permutation with adjacent-pair rope (HfLayout.h), so rows stay byte ranges.
// - Gemma's norm weights: served as 1 + w in f32 (what the converter writes) from memory.
// - llama3 rope scaling: the converter's rope_freqs.weight, computed, served from memory.
// - tied embeddings: no output.weight (ModelConfig ties the output to token_embd);
//   a stored lm_head.weight that transformers ignores is ignored too.
// - experts (Mixtral, Qwen3-MoE): each expert's matrix stays its own tensor; find_expert()
//   gives its byte range, so the registry binds it as the expert of the stacked tensor.
// - Phi-3's fused qkv / gate_up: the converter keeps them fused, and so does this.
// The in-memory tensors (a few vectors) live past the last shard, at kMemoryBase alignment.
// Opening reads config.json and the shard headers, and those small vectors only.
//
// Thread-safety: immutable after open(); read_range() may be called from several threads.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include "gguf/ModelSource.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfConfig.h"

namespace vk_symbiote {

class HfModelSource final : public ModelSource {
public:
    // `path`: a folder, or a .safetensors / index file in one (HfCheckpoint::open); the
    // folder's config.json describes the model.
    static Expected<std::unique_ptr<HfModelSource>> open(const Path& path);

    // The folder (no trailing separator): messages, and the pack cache goes next to it
    // (<parent>/<folder name>.vkspack), as next to a GGUF file, never into it.
    const Path& path() const override { return folder_; }
    uint64 file_size() const override { return memory_base_ + memory_.size(); }
    Expected<std::vector<uint8>> header_bytes() const override;
    std::vector<SourceFile> files() const override;
    const std::map<std::string, GGUFValue>& metadata() const override { return metadata_; }
    const std::vector<GGUFTensorInfo>& tensors() const override { return tensors_; }
    const GGUFTensorInfo* find_tensor(const std::string& name) const override;
    const GGUFTensorInfo* find_expert(const std::string& name, uint32 e) const override;
    bool qk_rows_rotate_half() const override { return config_.arch->permutes_qk; }
    ExpectedVoid read_range(uint64 offset, uint64 size, void* dst) const override;
    ExpectedVoid check_unchanged() const override { return checkpoint_->check_unchanged(); }

    const HfConfig& config() const { return config_; }
    const HfCheckpoint& checkpoint() const { return *checkpoint_; }

private:
    HfModelSource() = default;
    ExpectedVoid add_tensors();
    ExpectedVoid add_tensor(const HfTensor& t, bool tied);
    void add_memory_tensor(GGUFTensorInfo info, const std::vector<float>& values);

    Path folder_;
    std::string config_text_;  // config.json as read (part of header_bytes)
    HfConfig config_;
    std::unique_ptr<HfCheckpoint> checkpoint_;
    std::map<std::string, GGUFValue> metadata_;
    std::vector<GGUFTensorInfo> tensors_;
    std::map<std::string, size_t> by_name_;                    // non-expert tensors
    std::map<std::pair<std::string, uint32>, size_t> experts_;  // (stacked name, expert)
    uint64 memory_base_ = 0;    // address of memory_[0]: past the last shard
    std::vector<uint8> memory_; // the in-memory tensors' bytes
};

}  // namespace vk_symbiote
