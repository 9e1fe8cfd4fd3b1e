// The families the engine runs, one file each (see ModelFamily.h for what a family states).
// FamilyRegistry maps general.architecture to them; nothing else names them.
#pragma once

#include "model/families/ModelFamily.h"

namespace vk_symbiote {

const ModelFamily& llama_family();
const ModelFamily& mistral_family();
const ModelFamily& qwen2_family();
const ModelFamily& qwen3_family();
const ModelFamily& gemma2_family();
const ModelFamily& gemma3_family();
const ModelFamily& phi3_family();

}  // namespace vk_symbiote
