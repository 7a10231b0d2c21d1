#include "platform/event_log.h"

#include <vector>

#include "messages.h"  // generated from messages.mc

namespace proxy::platform {

std::wstring widen(std::string_view utf8) {
    if (utf8.empty()) return {};
    const int size = static_cast<int>(utf8.size());
    const int needed = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), size, nullptr, 0);
    if (needed <= 0) return {};
    std::wstring out(static_cast<std::size_t>(needed), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), size, out.data(), needed);
    return out;
}

std::string narrow(std::wstring_view utf16) {
    if (utf16.empty()) return {};
    const int size = static_cast<int>(utf16.size());
    const int needed =
        WideCharToMultiByte(CP_UTF8, 0, utf16.data(), size, nullptr, 0, nullptr, nullptr);
    if (needed <= 0) return {};
    std::string out(static_cast<std::size_t>(needed), '\0');
    WideCharToMultiByte(CP_UTF8, 0, utf16.data(), size, out.data(), needed, nullptr, nullptr);
    return out;
}

std::string windowsErrorText(DWORD code) {
    wchar_t* buffer = nullptr;  // allocated by FormatMessageW, freed with LocalFree
    const DWORD length = FormatMessageW(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<LPWSTR>(&buffer), 0, nullptr);
    std::string text;
    if (length > 0 && buffer != nullptr) {
        text = narrow(std::wstring_view(buffer, length));
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
            text.pop_back();
    }
    if (buffer != nullptr) LocalFree(buffer);
    if (text.empty()) text = "Windows error";
    return text + " (" + std::to_string(code) + ")";
}

EventLog::EventLog(const wchar_t* source) : handle_(RegisterEventSourceW(nullptr, source)) {}

EventLog::~EventLog() {
    if (handle_ != nullptr) DeregisterEventSource(handle_);
}

void EventLog::report(DWORD messageId, std::initializer_list<std::string_view> inserts) {
    WORD type = EVENTLOG_INFORMATION_TYPE;
    const char* label = "info";
    switch (messageId >> 30) {  // the severity bits of an mc message id
        case PROXY_SEVERITY_ERROR:
            type = EVENTLOG_ERROR_TYPE;
            label = "error";
            break;
        case PROXY_SEVERITY_WARNING:
            type = EVENTLOG_WARNING_TYPE;
            label = "warning";
            break;
        default:
            break;
    }
    std::vector<std::wstring> wide;
    wide.reserve(inserts.size());
    for (auto insert : inserts) wide.push_back(widen(insert));
    std::vector<LPCWSTR> pointers;
    pointers.reserve(wide.size());
    for (const auto& w : wide) pointers.push_back(w.c_str());

    if (handle_ != nullptr) {
        ReportEventW(handle_, type, 0, messageId, nullptr, static_cast<WORD>(pointers.size()), 0,
                     pointers.empty() ? nullptr : pointers.data(), nullptr);
    }
    if (echo_ != nullptr) {
        std::fprintf(echo_, "proxy-service: [%s] %s\n", label,
                     renderMessage(messageId, wide).c_str());
        std::fflush(echo_);
    }
}

std::string EventLog::renderMessage(DWORD messageId, const std::vector<std::wstring>& inserts) {
    // Exactly what Event Viewer shows: the message table of this executable with the inserts.
    // Missing inserts are padded with empty strings so a %n without an argument cannot read
    // past the array.
    constexpr std::size_t kMaxInserts = 9;
    const std::wstring empty;
    DWORD_PTR arguments[kMaxInserts];
    for (std::size_t i = 0; i < kMaxInserts; ++i) {
        const std::wstring& text = i < inserts.size() ? inserts[i] : empty;
        arguments[i] = reinterpret_cast<DWORD_PTR>(text.c_str());
    }
    wchar_t* buffer = nullptr;  // allocated by FormatMessageW, freed with LocalFree
    const DWORD length =
        FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ALLOCATE_BUFFER |
                           FORMAT_MESSAGE_ARGUMENT_ARRAY,
                       GetModuleHandleW(nullptr), messageId, 0, reinterpret_cast<LPWSTR>(&buffer),
                       0, reinterpret_cast<va_list*>(arguments));
    std::string text;
    if (length > 0 && buffer != nullptr) text = narrow(std::wstring_view(buffer, length));
    if (buffer != nullptr) LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) return text;
    // No message table (a test binary, say): the inserts alone.
    for (const auto& insert : inserts) {
        if (!text.empty()) text += "; ";
        text += narrow(insert);
    }
    return "event " + std::to_string(messageId & 0xFFFF) + ": " + text;
}

void EventLog::info(std::string_view text) {
    report(MSG_TEXT_INFO, {text});
}
void EventLog::warning(std::string_view text) {
    report(MSG_TEXT_WARNING, {text});
}
void EventLog::error(std::string_view text) {
    report(MSG_TEXT_ERROR, {text});
}

namespace {

std::wstring sourceKey(std::wstring_view source) {
    return L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" + std::wstring(source);
}

}  // namespace

std::optional<std::string> registerEventSource(std::wstring_view source,
                                               std::wstring_view messageFile) {
    HKEY key = nullptr;
    LSTATUS rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, sourceKey(source).c_str(), 0, nullptr, 0,
                                 KEY_SET_VALUE, nullptr, &key, nullptr);
    if (rc != ERROR_SUCCESS)
        return "cannot create the Event Log source key: " + windowsErrorText(rc);
    const std::wstring file(messageFile);
    rc = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ,
                        reinterpret_cast<const BYTE*>(file.c_str()),
                        static_cast<DWORD>((file.size() + 1) * sizeof(wchar_t)));
    const DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
    if (rc == ERROR_SUCCESS) {
        rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
                            reinterpret_cast<const BYTE*>(&types), sizeof(types));
    }
    RegCloseKey(key);
    if (rc != ERROR_SUCCESS) return "cannot write the Event Log source: " + windowsErrorText(rc);
    return std::nullopt;
}

std::optional<std::string> unregisterEventSource(std::wstring_view source) {
    const LSTATUS rc = RegDeleteKeyW(HKEY_LOCAL_MACHINE, sourceKey(source).c_str());
    if (rc != ERROR_SUCCESS && rc != ERROR_FILE_NOT_FOUND)
        return "cannot remove the Event Log source: " + windowsErrorText(rc);
    return std::nullopt;
}

}  // namespace proxy::platform
