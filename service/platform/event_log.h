#pragma once
// The Windows Event Log: source "proxy" in the Application log, messages from messages.mc (linked
// into proxy-service.exe as a MESSAGETABLE resource). Windows only.
//
// The host reports the service's life cycle here (start, stop, reload, config applied, fatal
// errors); request-level logging goes to the service's own log files, never to the Event Log.

#include <windows.h>

#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::platform {

inline constexpr wchar_t kEventSource[] = L"proxy";

// UTF-8 <-> UTF-16 for the Win32 "W" APIs; invalid input bytes become U+FFFD, never an error.
std::wstring widen(std::string_view utf8);
std::string narrow(std::wstring_view utf16);

// "The system cannot find the file specified. (2)"
std::string windowsErrorText(DWORD code);

class EventLog {
public:
    // Opens the source; when that fails (no rights, no Event Log service) reports are dropped
    // rather than stopping the service.
    explicit EventLog(const wchar_t* source = kEventSource);
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // Also print each report to `echo` (stderr in console mode); nullptr turns it off.
    void setEcho(std::FILE* echo) { echo_ = echo; }

    // One event; the type (information, warning, error) comes from the id's severity bits.
    // Inserts fill %1, %2, ... of the message and are UTF-8.
    void report(DWORD messageId, std::initializer_list<std::string_view> inserts);

    void info(std::string_view text);
    void warning(std::string_view text);
    void error(std::string_view text);

private:
    // The message as Event Viewer renders it (from this executable's message table).
    static std::string renderMessage(DWORD messageId, const std::vector<std::wstring>& inserts);

    HANDLE handle_ = nullptr;    // from RegisterEventSourceW, closed by DeregisterEventSource
    std::FILE* echo_ = nullptr;  // not owned
};

// HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\<source>: EventMessageFile names the
// exe holding the message table, TypesSupported = error|warning|information. The MSI writes the
// same values. Returns an error sentence on failure (usually: not elevated).
std::optional<std::string> registerEventSource(std::wstring_view source,
                                               std::wstring_view messageFile);
std::optional<std::string> unregisterEventSource(std::wstring_view source);

}  // namespace proxy::platform
