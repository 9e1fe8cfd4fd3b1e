#include "model/LoadedModel.h"

namespace vk_symbiote {

Expected<std::shared_ptr<const LoadedModel>> LoadedModel::open(const Path& path, bool with_tokenizer) {
    std::shared_ptr<LoadedModel> m(new LoadedModel());
    auto g = GGUFLoader::open(path);
    if (!g) return g.error();
    m->gguf_ = std::shared_ptr<const GGUFLoader>(std::move(*g));
    if (with_tokenizer) {
        auto tok = Tokenizer::from_gguf(*m->gguf_);
        if (!tok) return tok.error();
        m->tokenizer_ = std::move(*tok);
    }
    auto cfg = ModelConfig::from_gguf(*m->gguf_);
    if (!cfg) return cfg.error();
    m->config_ = std::move(*cfg);
    auto reg = TensorRegistry::bind(m->config_, *m->gguf_);
    if (!reg) return reg.error();
    m->registry_ = std::move(*reg);
    return std::shared_ptr<const LoadedModel>(std::move(m));
}

const Tokenizer& LoadedModel::tokenizer() const {
    VKS_CHECK(tokenizer_ != nullptr, "LoadedModel::tokenizer(): opened without the tokenizer");
    return *tokenizer_;
}

}  // namespace vk_symbiote
