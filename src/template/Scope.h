// Scope: the variables of one frame of a render, chained to the frame around it. The
// template's globals and variables are the outermost scope; each for-loop iteration, macro
// call, with / generation / set / filter block gets a child, so what it sets does not leak
// out (Jinja2's rule: hence namespace()). Lookups walk the chain outward.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "template/Value.h"

namespace vk_symbiote::jinja {

class Scope {
public:
    explicit Scope(std::shared_ptr<Scope> parent = nullptr) : parent_(std::move(parent)) {}

    const Value* find(std::string_view name) const {
        for (const Scope* s = this; s; s = s->parent_.get())
            if (size_t i = s->slot(name); i != kNone) return &s->vars_[i].second;
        return nullptr;
    }

    void set(const std::string& name, Value v) {
        if (size_t i = slot(name); i != kNone) {
            vars_[i].second = std::move(v);
            return;
        }
        if (index_.empty() && vars_.size() == kLinearMax)  // many names (the globals): index them
            for (size_t i = 0; i < vars_.size(); ++i) index_.emplace(vars_[i].first, i);
        if (!index_.empty()) index_.emplace(name, vars_.size());
        vars_.emplace_back(name, std::move(v));
    }

private:
    static constexpr size_t kLinearMax = 16;  // loop and macro scopes hold a few names: a linear search

    static constexpr size_t kNone = size_t(-1);

    // Where `name` is in this scope alone, or kNone.
    size_t slot(std::string_view name) const {
        if (!index_.empty()) {
            auto it = index_.find(name);
            return it == index_.end() ? kNone : it->second;
        }
        for (size_t i = 0; i < vars_.size(); ++i)
            if (vars_[i].first == name) return i;
        return kNone;
    }

    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::shared_ptr<Scope> parent_;
    std::vector<std::pair<std::string, Value>> vars_;
    std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;  // built past kLinearMax names
};

}  // namespace vk_symbiote::jinja
