#include "runtime/StopStrings.h"

#include <algorithm>

namespace vk_symbiote {

StopStrings::StopStrings(std::vector<std::string> stops) {
    for (std::string& s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopStrings::push(const std::string& piece) {
    if (stopped_) return {};
    held_ += piece;
    size_t first = std::string::npos;  // earliest match of any stop string
    for (const std::string& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
        stopped_ = true;
        std::string out = held_.substr(0, first);
        held_.clear();
        return out;
    }
    const size_t keep = partial_match();
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopStrings::flush() {
    std::string out;
    out.swap(held_);
    return stopped_ ? std::string() : out;
}

size_t StopStrings::partial_match() const {
    size_t best = 0;
    for (const std::string& s : stops_)
        for (size_t k = std::min(held_.size(), s.size() - 1); k > best; --k)
            if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
                best = k;
                break;
            }
    return best;
}

}  // namespace vk_symbiote
