// StopStrings: ends a generation at the first occurrence of any of its stop strings, on the
// text as it streams. Text that could still turn into a stop string is held back, so no
// emitted piece ever contains (part of) the stop string that ends the generation.
#pragma once

#include <string>
#include <vector>

namespace vk_symbiote {

class StopStrings {
public:
    explicit StopStrings(std::vector<std::string> stops);

    // Appends `piece` to the text; returns what may be emitted now. After a match, stopped()
    // is true: the text before the match has been returned and the rest is dropped.
    std::string push(const std::string& piece);
    // What is still held back at the end of the generation ("" after a match).
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    // Length of the longest end of held_ that begins one of the stop strings (and is shorter).
    size_t partial_match() const;

    std::vector<std::string> stops_;  // non-empty strings only
    std::string held_;
    bool stopped_ = false;
};

}  // namespace vk_symbiote
