#include "app/json_util.h"

namespace proxy::console {

namespace {
const Json& nullJson() {
    static const Json kNull;
    return kNull;
}
}  // namespace

const Json& member(const Json& object, const char* key) {
    if (!object.is_object()) return nullJson();
    const auto it = object.find(key);
    return it == object.end() ? nullJson() : *it;
}

const Json& at(const Json& object, std::initializer_list<const char*> keys) {
    const Json* current = &object;
    for (const char* key : keys) current = &member(*current, key);
    return *current;
}

QString text(const Json& value, const QString& fallback) {
    if (value.is_string()) return QString::fromStdString(value.get<std::string>());
    if (value.is_number_integer()) return QString::number(value.get<std::int64_t>());
    if (value.is_number_unsigned()) return QString::number(value.get<std::uint64_t>());
    if (value.is_number_float()) return QString::number(value.get<double>());
    if (value.is_boolean())
        return value.get<bool>() ? QStringLiteral("true") : QStringLiteral("false");
    return fallback;
}

std::int64_t integer(const Json& value, std::int64_t fallback) {
    // Unsigned first: is_number_integer() is true for unsigned values too, and get<int64_t> would
    // wrap one above INT64_MAX to a negative number.
    if (value.is_number_unsigned()) {
        const auto v = value.get<std::uint64_t>();
        return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
    }
    if (value.is_number_integer()) return value.get<std::int64_t>();
    if (value.is_number_float()) {
        // Casting a double outside the range (or NaN) to an integer is undefined.
        const double d = value.get<double>();
        if (!(d > -9.2e18 && d < 9.2e18)) return d > 0 ? INT64_MAX : fallback;
        return static_cast<std::int64_t>(d);
    }
    return fallback;
}

double number(const Json& value, double fallback) {
    if (value.is_number()) return value.get<double>();
    return fallback;
}

bool boolean(const Json& value, bool fallback) {
    return value.is_boolean() ? value.get<bool>() : fallback;
}

QString textOf(const Json& object, const char* key, const QString& fallback) {
    return text(member(object, key), fallback);
}

std::int64_t integerOf(const Json& object, const char* key, std::int64_t fallback) {
    return integer(member(object, key), fallback);
}

QString toText(const Json& value, int indent) {
    return QString::fromStdString(control::dumpJson(value, indent));
}

Json fromText(const QString& text) {
    const QByteArray bytes = text.toUtf8();
    return Json::parse(bytes.begin(), bytes.end(), nullptr, false);
}

}  // namespace proxy::console
