// FamilyRegistry: general.architecture -> ModelFamily, and the refusal for the rest.
#pragma once

#include <string>
#include <string_view>

#include "model/families/ModelFamily.h"

namespace vk_symbiote {

// The family of an architecture, or nullptr when the engine does not run it.
const ModelFamily* find_family(std::string_view architecture);
// "llama, mistral, qwen2, ..." (for messages).
std::string supported_architectures();
// Why a recognised architecture is not run (e.g. "mixture-of-experts models are not supported
// yet"), or nullptr for an architecture the engine knows nothing about.
const char* unsupported_architecture_reason(std::string_view architecture);

}  // namespace vk_symbiote
