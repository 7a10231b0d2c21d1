#include "control_channel/method_registry.h"

namespace proxy::control {

bool MethodRegistry::add(std::string name, Access access, Handler handler, std::string summary) {
    return methods_.emplace(std::move(name), Method{access, std::move(handler), std::move(summary)})
        .second;
}

const MethodRegistry::Method* MethodRegistry::find(std::string_view name) const {
    const auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : &it->second;
}

std::vector<std::string> MethodRegistry::names() const {
    std::vector<std::string> out;
    for (const auto& [name, method] : methods_) out.push_back(name);
    return out;
}

std::optional<RpcError> requireObject(const Json& params) {
    if (params.is_null() || params.is_object()) return std::nullopt;
    return RpcError::make(errc::kInvalidParams, "params must be an object");
}

std::optional<std::string> stringParam(const Json& params, std::string_view name,
                                       std::optional<RpcError>& error, bool required) {
    if (error) return std::nullopt;
    const std::string key(name);
    if (!params.is_object() || !params.contains(key)) {
        if (required) error = RpcError::make(errc::kInvalidParams, "\"" + key + "\" is required");
        return std::nullopt;
    }
    const Json& value = params[key];
    if (!value.is_string()) {
        error = RpcError::make(errc::kInvalidParams, "\"" + key + "\" must be a string");
        return std::nullopt;
    }
    return value.get<std::string>();
}

std::optional<std::uint64_t> uintParam(const Json& params, std::string_view name,
                                       std::optional<RpcError>& error, bool required) {
    if (error) return std::nullopt;
    const std::string key(name);
    if (!params.is_object() || !params.contains(key)) {
        if (required) error = RpcError::make(errc::kInvalidParams, "\"" + key + "\" is required");
        return std::nullopt;
    }
    const Json& value = params[key];
    if (!value.is_number_unsigned() &&
        !(value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
        error =
            RpcError::make(errc::kInvalidParams, "\"" + key + "\" must be a non-negative integer");
        return std::nullopt;
    }
    return value.get<std::uint64_t>();
}

}  // namespace proxy::control
