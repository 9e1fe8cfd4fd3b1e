#include "template/Value.h"

#include <algorithm>

#include "template/TemplateError.h"

namespace vk_symbiote::jinja {

namespace {

[[noreturn]] void too_deep() {
    throw TemplateError(TemplateErrorKind::Limit, "a list or dict nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
}

}  // namespace

Value Value::undefined(std::string hint) { return Value(RawTag{}, Storage(UndefinedData{std::make_shared<const std::string>(std::move(hint))})); }

Value Value::sequence(std::vector<Value> items, bool tuple) {
    auto a = std::make_shared<Array>();
    for (const Value& v : items) a->depth = std::max(a->depth, v.depth() + 1);
    if (a->depth > kMaxValueDepth) too_deep();
    a->items = std::move(items);
    a->tuple = tuple;
    return Value(RawTag{}, Storage(std::shared_ptr<const Array>(std::move(a))));
}

Value Value::list(std::vector<Value> items) { return sequence(std::move(items), false); }
Value Value::tuple(std::vector<Value> items) { return sequence(std::move(items), true); }

Value::Value(Dict d) : v_(std::make_shared<const Dict>(std::move(d))) {}

bool Value::as_bool() const { return std::get<bool>(v_); }

int64 Value::as_int() const { return is_bool() ? int64(std::get<bool>(v_)) : std::get<int64>(v_); }

double Value::as_float() const { return is_float() ? std::get<double>(v_) : double(as_int()); }

const std::string& Value::as_string() const { return *std::get<std::shared_ptr<const std::string>>(v_); }

const Array& Value::as_array() const { return *std::get<std::shared_ptr<const Array>>(v_); }

const std::vector<Value>& Value::items() const { return as_array().items; }

std::shared_ptr<const std::vector<Value>> Value::shared_items() const {
    const auto& a = std::get<std::shared_ptr<const Array>>(v_);
    return std::shared_ptr<const std::vector<Value>>(a, &a->items);  // aliasing: no copy
}

const Dict& Value::as_dict() const { return *std::get<std::shared_ptr<const Dict>>(v_); }

Object& Value::as_object() const { return *std::get<std::shared_ptr<Object>>(v_); }

const Callable& Value::as_callable() const { return *std::get<std::shared_ptr<const Callable>>(v_); }

std::string Value::undefined_message() const {
    const auto& hint = std::get<UndefinedData>(v_).hint;
    return hint ? *hint : "the value is undefined";
}

bool Value::truthy() const {
    switch (kind()) {
        case Kind::Undefined:
        case Kind::None: return false;
        case Kind::Bool: return as_bool();
        case Kind::Int: return as_int() != 0;
        case Kind::Float: return as_float() != 0.0;
        case Kind::String: return !as_string().empty();
        case Kind::List: return !items().empty();
        case Kind::Dict: return as_dict().size() != 0;
        case Kind::Object:
        case Kind::Callable: return true;
    }
    return false;
}

uint32 Value::depth() const {
    if (is_list()) return as_array().depth;
    if (is_dict()) return as_dict().depth();
    return 0;
}

const char* Value::type_name() const {
    switch (kind()) {
        case Kind::Undefined: return "Undefined";
        case Kind::None: return "NoneType";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::List: return as_array().tuple ? "tuple" : "list";
        case Kind::Dict: return "dict";
        case Kind::Object: return as_object().type_name();
        case Kind::Callable: return "function";
    }
    return "?";
}

const void* Value::identity() const {
    switch (kind()) {
        case Kind::String: return std::get<std::shared_ptr<const std::string>>(v_).get();
        case Kind::List: return &as_array();
        case Kind::Dict: return &as_dict();
        case Kind::Object: return &as_object();
        case Kind::Callable: return &as_callable();
        default: return nullptr;
    }
}

void Dict::set(std::string key, Value v) {
    if (v.depth() + 1 > kMaxValueDepth) too_deep();
    depth_ = std::max(depth_, v.depth() + 1);
    if (auto it = index_.find(key); it != index_.end()) {
        entries_[it->second].second = std::move(v);
        return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(v));
}

const Value* Dict::find(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void Object::set_attr(const std::string&, Value) { runtime_error(std::string("cannot assign an attribute of a '") + type_name() + "' object (only of a namespace)"); }

}  // namespace vk_symbiote::jinja
