// LoadedModel: a model opened and parsed once: its ModelSource (a GGUF file or a Hugging Face
// folder: metadata and tensor table), the ModelConfig, the TensorRegistry and, for the
// engine, the Tokenizer. The engine creates one and passes it down (backend choice, weight
// providers, pack cache), so the header is parsed once at start-up. Reading tensor bytes goes
// through source().read_range() or the readers' own file descriptors (O_DIRECT).
//
// Thread-safety: immutable after open(); shared as std::shared_ptr<const LoadedModel>.
#pragma once

#include <memory>

#include "gguf/ModelSource.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Whether `path` names a Hugging Face folder rather than a GGUF file: a directory, or a
// .safetensors / model.safetensors.index.json file (which stands for the folder it is in).
bool is_hf_model_path(const Path& path);

// The source `path` names: a GGUF file (GGUFLoader) or a Hugging Face folder (HfModelSource).
Expected<std::shared_ptr<const ModelSource>> open_model_source(const Path& path);

// The tokenizer of `path`: the GGUF vocabulary, or a folder's tokenizer files (a folder that
// holds only those is enough: no config.json or weights needed).
Expected<std::unique_ptr<Tokenizer>> open_tokenizer(const Path& path);

class LoadedModel {
public:
    // Errors name the file and the field, in the order the engine has always reported them:
    // the container, the tokenizer (when asked for), the config, the tensor table.
    static Expected<std::shared_ptr<const LoadedModel>> open(const Path& path, bool with_tokenizer = true);

    const Path& path() const { return source_->path(); }
    const ModelSource& source() const { return *source_; }
    const std::shared_ptr<const ModelSource>& source_shared() const { return source_; }
    const ModelConfig& config() const { return config_; }
    const TensorRegistry& registry() const { return registry_; }
    bool has_tokenizer() const { return tokenizer_ != nullptr; }
    const Tokenizer& tokenizer() const;  // opened with_tokenizer (checked)

private:
    LoadedModel() = default;

    std::shared_ptr<const ModelSource> source_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ModelConfig config_;
    TensorRegistry registry_;
};

}  // namespace vk_symbiote
