#pragma once
// Tolerant reads of JSON results: the service's objects may grow, and a field of an unexpected
// type reads as the fallback instead of throwing (nlohmann's get<> throws on a type mismatch).

#include <QString>
#include <cstdint>

#include "control/json_rpc.h"

namespace proxy::console {

using Json = control::Json;

// The member `key` of an object, or null when `object` is not an object or lacks it.
const Json& member(const Json& object, const char* key);
// A nested member by a list of keys: at(stats, {"metrics", "listeners"}).
const Json& at(const Json& object, std::initializer_list<const char*> keys);

QString text(const Json& value, const QString& fallback = {});  // strings; numbers as text
std::int64_t integer(const Json& value, std::int64_t fallback = 0);
double number(const Json& value, double fallback = 0.0);
bool boolean(const Json& value, bool fallback = false);

QString textOf(const Json& object, const char* key, const QString& fallback = {});
std::int64_t integerOf(const Json& object, const char* key, std::int64_t fallback = 0);

// Json <-> QString (UTF-8). fromText never throws: a parse failure gives a discarded value.
QString toText(const Json& value, int indent = -1);
Json fromText(const QString& text);

}  // namespace proxy::console
