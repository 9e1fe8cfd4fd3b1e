// LoadedModel: a model file opened and parsed once: the GGUF index (metadata and tensor
// table), the ModelConfig, the TensorRegistry and, for the engine, the Tokenizer. The engine
// creates one and passes it down (backend choice, weight providers, pack cache), so the
// header is parsed once at start-up. Reading tensor bytes goes through gguf().read_range()
// or the readers' own file descriptors (O_DIRECT).
//
// Thread-safety: immutable after open(); shared as std::shared_ptr<const LoadedModel>.
#pragma once

#include <memory>

#include "gguf/GGUFLoader.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class LoadedModel {
public:
    // Errors name the file and the field, in the order the engine has always reported them:
    // the GGUF container, the tokenizer (when asked for), the config, the tensor table.
    static Expected<std::shared_ptr<const LoadedModel>> open(const Path& path, bool with_tokenizer = true);

    const Path& path() const { return gguf_->path(); }
    const GGUFLoader& gguf() const { return *gguf_; }
    const std::shared_ptr<const GGUFLoader>& gguf_shared() const { return gguf_; }
    const ModelConfig& config() const { return config_; }
    const TensorRegistry& registry() const { return registry_; }
    bool has_tokenizer() const { return tokenizer_ != nullptr; }
    const Tokenizer& tokenizer() const;  // opened with_tokenizer (checked)

private:
    LoadedModel() = default;

    std::shared_ptr<const GGUFLoader> gguf_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ModelConfig config_;
    TensorRegistry registry_;
};

}  // namespace vk_symbiote
