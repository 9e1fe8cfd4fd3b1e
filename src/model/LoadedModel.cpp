#include "model/LoadedModel.h"

#include <cmath>
#include <filesystem>

#include "gguf/GGUFLoader.h"
#include "hf/HfCheckpoint.h"
#include "hf/HfModelSource.h"
#include "model/HfTokenizerFolder.h"

namespace vk_symbiote {

bool is_hf_model_path(const Path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return true;
    const std::string name = path.filename().string();
    const std::string ext = path.extension().string();
    return ext == ".safetensors" || name == HfCheckpoint::kIndexFile;
}

Expected<std::shared_ptr<const ModelSource>> open_model_source(const Path& path) {
    if (is_hf_model_path(path)) {
        auto s = HfModelSource::open(path);
        if (!s) return s.error();
        return std::shared_ptr<const ModelSource>(std::move(*s));
    }
    auto g = GGUFLoader::open(path);
    if (!g) return g.error();
    return std::shared_ptr<const ModelSource>(std::move(*g));
}

namespace {

// The folder a Hugging Face path stands for: itself, or the folder of a file in it.
Path hf_folder(const Path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return path;
    return path.has_parent_path() ? path.parent_path() : Path(".");
}

// Gemma's config.json states the attention scale (query_pre_attn_scalar^-1/2); the family
// computes it as llama.cpp does, which ignores the key. A folder where the two differ is
// refused rather than run with either.
ExpectedVoid check_attention_scale(const ModelSource& source, const ModelConfig& c) {
    const auto* hf = dynamic_cast<const HfModelSource*>(&source);
    if (!hf || hf->config().query_pre_attn_scalar <= 0.0) return {};
    const double want = 1.0 / std::sqrt(hf->config().query_pre_attn_scalar);
    if (std::fabs(double(c.attention_scale()) - want) <= 1e-6 * want) return {};
    const double runs = 1.0 / (double(c.attention_scale()) * double(c.attention_scale()));
    return make_error(ErrorCode::Unsupported, hf->config().file.string() + ": key 'query_pre_attn_scalar': " + std::to_string(hf->config().query_pre_attn_scalar) +
                                                  " differs from what this " + c.architecture + " model runs with (" + std::to_string(runs) +
                                                  ", as llama.cpp computes it from the shape)");
}

}  // namespace

Expected<std::unique_ptr<Tokenizer>> open_tokenizer(const Path& path) {
    if (is_hf_model_path(path)) return load_hf_tokenizer(hf_folder(path));
    auto g = GGUFLoader::open(path, GGUFOpenOptions{.allow_quantized = true});
    if (!g) return g.error();
    return Tokenizer::from_gguf(**g);
}

Expected<std::shared_ptr<const LoadedModel>> LoadedModel::open(const Path& path, bool with_tokenizer) {
    std::shared_ptr<LoadedModel> m(new LoadedModel());
    auto src = open_model_source(path);
    if (!src) return src.error();
    m->source_ = std::move(*src);
    const bool hf = is_hf_model_path(path);
    if (with_tokenizer && !hf) {
        auto tok = Tokenizer::from_gguf(*m->source_);
        if (!tok) return tok.error();
        m->tokenizer_ = std::move(*tok);
    }
    auto cfg = ModelConfig::from_source(*m->source_);
    if (!cfg) return cfg.error();
    m->config_ = std::move(*cfg);
    VKS_TRY(check_attention_scale(*m->source_, m->config_));
    if (with_tokenizer && hf) {
        // After the config: the folder's vocab_size may pad the tokenizer's ids.
        auto tok = load_hf_tokenizer(m->source_->path(), m->config_.n_vocab);
        if (!tok) return tok.error();
        m->tokenizer_ = std::move(*tok);
    }
    auto reg = TensorRegistry::bind(m->config_, *m->source_);
    if (!reg) return reg.error();
    m->registry_ = std::move(*reg);
    return std::shared_ptr<const LoadedModel>(std::move(m));
}

const Tokenizer& LoadedModel::tokenizer() const {
    VKS_CHECK(tokenizer_ != nullptr, "LoadedModel::tokenizer(): opened without the tokenizer");
    return *tokenizer_;
}

}  // namespace vk_symbiote
