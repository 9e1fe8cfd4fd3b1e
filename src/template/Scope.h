// Scope: the variables of one frame of a render, chained to the frame around it. The
// template's globals and variables are the outermost scope; each for-loop iteration, macro
// call, with / generation / set / filter block gets a child, so what it sets does not leak
// out (Jinja2's rule: hence namespace()). Lookups walk the chain outward.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "template/Value.h"

namespace vk_symbiote::jinja {

class Scope {
public:
    explicit Scope(std::shared_ptr<Scope> parent = nullptr) : parent_(std::move(parent)) {}

    const Value* find(std::string_view name) const {
        for (const Scope* s = this; s; s = s->parent_.get())
            if (auto it = s->vars_.find(name); it != s->vars_.end()) return &it->second;
        return nullptr;
    }
    void set(const std::string& name, Value v) { vars_.insert_or_assign(name, std::move(v)); }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::shared_ptr<Scope> parent_;
    std::unordered_map<std::string, Value, Hash, std::equal_to<>> vars_;
};

}  // namespace vk_symbiote::jinja
