#include "control/pipe_client.h"

#ifdef _WIN32
#include <windows.h>
#endif

namespace proxy::control {

std::string windowsPipePath(std::string_view endpoint) {
    constexpr std::string_view kPrefix = "\\\\.\\pipe\\";
    if (endpoint.size() >= kPrefix.size()) {
        bool same = true;  // the prefix, compared without regard to case as Windows does
        for (std::size_t i = 0; i < kPrefix.size() && same; ++i) {
            char c = endpoint[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            same = c == kPrefix[i];
        }
        if (same) return std::string(endpoint);
    }
    return std::string(kPrefix) + std::string(endpoint);
}

#ifdef _WIN32
namespace {

std::wstring widen(const std::string& text) {
    if (text.empty()) return {};
    const int n = MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
    return out;
}

std::string systemText(DWORD code) {
    char* buffer = nullptr;
    const DWORD n = FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<LPSTR>(&buffer), 0, nullptr);
    std::string text = n && buffer ? std::string(buffer, n) : "error " + std::to_string(code);
    if (buffer) LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '.')) text.pop_back();
    return text;
}

}  // namespace

PipeOpenResult openControlPipe(std::string_view endpoint, std::chrono::steady_clock::time_point deadline) {
    const std::string path = windowsPipePath(endpoint);
    const std::wstring name = widen(path);
    PipeOpenResult result;
    for (;;) {
        HANDLE h = CreateFileW(name.c_str(), GENERIC_READ | FILE_WRITE_DATA, 0, nullptr, OPEN_EXISTING,
                               FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                               nullptr);
        if (h != INVALID_HANDLE_VALUE) {
            DWORD mode = PIPE_READMODE_BYTE;
            SetNamedPipeHandleState(h, &mode, nullptr, nullptr);
            result.handle = reinterpret_cast<std::intptr_t>(h);
            return result;
        }
        const DWORD code = GetLastError();
        if (code == ERROR_FILE_NOT_FOUND) {
            result.error = "no service listens on " + path + " (is it running?)";
            return result;
        }
        if (code == ERROR_ACCESS_DENIED) {
            result.error = "access to " + path +
                           " is denied (run as an administrator, or join the read-only group)";
            return result;
        }
        if (code != ERROR_PIPE_BUSY) {
            result.error = "cannot open " + path + ": " + systemText(code);
            return result;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timedOut = true;
            result.error = "every instance of " + path + " stayed busy";
            return result;
        }
        if (!WaitNamedPipeW(name.c_str(), static_cast<DWORD>(left.count()))) Sleep(10);
    }
}
#endif

}  // namespace proxy::control
