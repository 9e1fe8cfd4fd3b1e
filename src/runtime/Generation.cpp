#include "vk_symbiote/Generation.h"

namespace vk_symbiote {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::None: return "none";
        case FinishReason::Stop: return "stop";
        case FinishReason::Length: return "length";
        case FinishReason::Cancelled: return "cancelled";
        case FinishReason::ContextLimit: return "context limit";
        case FinishReason::Error: return "error";
    }
    return "?";
}

}  // namespace vk_symbiote
