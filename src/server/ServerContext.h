// ServerContext: what the HTTP handlers share: the engine driver, the model's tokenizer and
// chat template, the request defaults and limits, and what /v1/models, /props and /metrics
// report. Built once by OpenAiServer; read-only afterwards except through the driver.
#pragma once

#include <memory>
#include <string>

#include "model/ChatTemplate.h"
#include "server/CompletionRequest.h"
#include "server/EngineDriver.h"
#include "server/Metrics.h"

namespace vk_symbiote {
class Tokenizer;
}

namespace vk_symbiote::server {

struct ServerContext {
    EngineDriver* driver = nullptr;
    const Tokenizer* tokenizer = nullptr;
    const ChatTemplate* chat_template = nullptr;
    RequestDefaults defaults;
    uint32 context_size = 0;   // tokens one sequence holds (--ctx-size)
    uint32 parallel = 1;
    std::string model_id;      // the model's name in /v1/models and every response
    std::string description;   // the engine's one line: model, backend, budgets, placement
    Budgets budgets;
    std::string api_key;       // empty: no key asked
};

}  // namespace vk_symbiote::server
