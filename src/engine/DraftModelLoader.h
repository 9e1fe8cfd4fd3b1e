// DraftModelLoader: the draft model of speculative decoding (--draft-model), loaded once at
// start-up, before the model it drafts for, so that its bytes leave the RAM budget first.
// The draft runs on the CPU backend, resident in RAM (weights and its own KV cache, one
// sequence); the model is then placed under --ram-gb minus the draft's bytes. A budget that
// cannot hold both is refused, naming the draft and what it takes.
#pragma once

#include <memory>

#include "engine/BackendSelector.h"
#include "model/LoadedModel.h"
#include "runtime/ModelDraft.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote {

struct LoadedDraft {
    std::shared_ptr<const LoadedModel> model;
    SelectedBackend sel;                // CPU backend over the draft's weights
    std::unique_ptr<ModelDraft> draft;  // its Session on sel.backend
    uint64 resident_bytes = 0;          // weights + KV cache + activations, taken from --ram-gb
};

// Loads --draft-model for `target` (opened, not yet placed). Errors: --parallel > 1, a file
// that does not open, a vocabulary that differs (size, BOS / EOS ids and texts; both files
// named), a --ram-gb the draft alone fills.
Expected<std::unique_ptr<LoadedDraft>> load_draft_model(const LoadedModel& target, const Path& target_path, const ConfigManager& config);

// The configuration the target is placed under: --ram-gb less the draft's bytes when the
// budget was given (a machine budget is measured after the draft is resident already).
ConfigManager config_without_draft(const ConfigManager& config, const LoadedDraft& draft);

// Same vocabulary: the size, and BOS / EOS by id and text. The message names both files.
ExpectedVoid check_same_vocabulary(const Tokenizer& target, const Path& target_path, const Tokenizer& draft, const Path& draft_path);

}  // namespace vk_symbiote
