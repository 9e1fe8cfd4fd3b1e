#include "engine/DraftModelLoader.h"

#include "config/Logger.h"
#include "engine/BudgetCheck.h"
#include "packs/PackWeightProvider.h"

namespace vk_symbiote {

namespace {
std::string mib(uint64 b) { return std::to_string((b + (1u << 20) - 1) >> 20) + " MiB"; }

std::string special_text(const Tokenizer& t, uint32 id) { return id == Tokenizer::kNoToken ? "(none)" : std::to_string(id) + " '" + t.token_text(id) + "'"; }

// The draft's own configuration: the CPU path, one sequence, no draft of its own.
ConfigManager draft_config(const ConfigManager& config) {
    ConfigManager c = config;
    c.performance().enable_gpu = false;
    c.performance().parallel = 1;
    c.sampling().draft_model.clear();
    return c;
}
}  // namespace

ExpectedVoid check_same_vocabulary(const Tokenizer& target, const Path& target_path, const Tokenizer& draft, const Path& draft_path) {
    std::string diff;
    if (target.n_vocab() != draft.n_vocab())
        diff = std::to_string(draft.n_vocab()) + " tokens, the model " + std::to_string(target.n_vocab());
    else if (special_text(target, target.bos_id()) != special_text(draft, draft.bos_id()))
        diff = "BOS " + special_text(draft, draft.bos_id()) + ", the model's " + special_text(target, target.bos_id());
    else if (special_text(target, target.eos_id()) != special_text(draft, draft.eos_id()))
        diff = "EOS " + special_text(draft, draft.eos_id()) + ", the model's " + special_text(target, target.eos_id());
    if (diff.empty()) return {};
    return make_error(ErrorCode::InvalidArgument, "--draft-model " + draft_path.string() + " has another vocabulary than the model " +
                                                      target_path.string() + ": the draft has " + diff);
}

Expected<std::unique_ptr<LoadedDraft>> load_draft_model(const LoadedModel& target, const Path& target_path, const ConfigManager& config) {
    const Path path = config.sampling().draft_model;
    if (config.performance().parallel > 1)
        return make_error(ErrorCode::InvalidArgument, "--draft-model drafts for one sequence at a time: not with --parallel " +
                                                          std::to_string(config.performance().parallel));
    auto d = std::make_unique<LoadedDraft>();
    auto model = LoadedModel::open(path);
    if (!model) return make_error(model.error().code, "--draft-model: " + model.error().message);
    d->model = std::move(*model);
    VKS_TRY(check_same_vocabulary(target.tokenizer(), target_path, d->model->tokenizer(), path));
    const ConfigManager dc = draft_config(config);
    auto sel = select_backend(d->model, dc);
    if (!sel) return make_error(sel.error().code, "--draft-model " + path.string() + ": " + sel.error().message);
    d->sel = std::move(*sel);
    const ModelConfig& cfg = d->model->config();
    d->resident_bytes = d->model->registry().total_bytes() + estimate_activation_kv_bytes(cfg, d->sel.backend->n_ctx(), d->sel.n_batch);
    const MemoryConfig& m = config.memory();
    if (ram_budget_given(m) && d->resident_bytes >= m.ram_budget_bytes())
        return make_error(ErrorCode::InvalidArgument, "--ram-gb " + std::to_string(m.ram_budget_gb) + " cannot hold the draft model " + path.string() + " (" +
                                                          mib(d->resident_bytes) + " with its KV cache) and the model " + target_path.string() +
                                                          ": raise --ram-gb or drop --draft-model");
    d->draft = std::make_unique<ModelDraft>(*d->sel.backend, cfg.n_vocab, d->sel.n_batch);
    VKS_LOG_INFO("draft model: " << path.string() << " (" << mib(d->resident_bytes) << " resident in RAM, " << d->sel.description << ")");
    return d;
}

ConfigManager config_without_draft(const ConfigManager& config, const LoadedDraft& draft) {
    ConfigManager c = config;
    if (ram_budget_given(c.memory())) c.memory().ram_budget_gb -= double(draft.resident_bytes) / MemoryConfig::kBytesPerGB;
    return c;
}

}  // namespace vk_symbiote
