// The named-pipe endpoint (Windows): a DACL for SYSTEM and Administrators (plus the read-only
// group when configured), several listening instances connected through IOCP, and the role check
// by impersonating the client just long enough to open its token.
#ifdef _WIN32

#include <set>

#include <windows.h>
// sddl.h needs windows.h first.
#include <sddl.h>

#include <asio/async_result.hpp>
#include <asio/windows/overlapped_ptr.hpp>

#include "control_channel/server_internal.h"

namespace proxy::control {

namespace {

using detail::PeerIdentity;

// Instances waiting for a client at once: a burst of clients (the console and a script) does
// not see ERROR_PIPE_BUSY.
constexpr int kListeningInstances = 4;

// Read, write and synchronize, but not FILE_CREATE_PIPE_INSTANCE (== FILE_APPEND_DATA): a
// read-only user must not be able to add an instance of our pipe and impersonate the server to
// admin clients. Clients therefore open with GENERIC_READ | FILE_WRITE_DATA.
constexpr const wchar_t* kReadOnlyRights = L"0x0012019b";

std::wstring widen(const std::string& text) {
    if (text.empty()) return {};
    const int n =
        MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
    return out;
}

std::string narrow(const std::wstring& text) {
    if (text.empty()) return {};
    const int n = WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()),
                                      nullptr, 0, nullptr, nullptr);
    std::string out(static_cast<std::size_t>(n), '\0');
    WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n,
                        nullptr, nullptr);
    return out;
}

std::string errorText(DWORD code) {
    return asio::error_code(static_cast<int>(code), asio::system_category()).message();
}

// "HOST\\alice" for a SID, or the SID string when it has no name.
std::string accountName(PSID sid) {
    wchar_t name[256];
    wchar_t domain[256];
    DWORD nameLength = 256;
    DWORD domainLength = 256;
    SID_NAME_USE use;
    if (LookupAccountSidW(nullptr, sid, name, &nameLength, domain, &domainLength, &use)) {
        return narrow(domain) + "\\" + narrow(name);
    }
    wchar_t* text = nullptr;
    std::string out = "unknown account";
    if (ConvertSidToStringSidW(sid, &text)) {
        out = narrow(text);
        LocalFree(text);
    }
    return out;
}

}  // namespace

struct ControlServer::Impl::PipeState {
    std::wstring name;
    PSECURITY_DESCRIPTOR descriptor = nullptr;  // owned (LocalFree)
    SECURITY_ATTRIBUTES attributes{};
    std::vector<BYTE> readOnlySid;  // empty: no read-only access
    // Not owned: instances waiting in ConnectNamedPipe, inside their coroutines; closed on stop.
    std::set<asio::windows::stream_handle*> waiting;

    PipeState() = default;
    PipeState(const PipeState&) = delete;
    PipeState& operator=(const PipeState&) = delete;
    ~PipeState() {
        if (descriptor) LocalFree(descriptor);
    }

    HANDLE createInstance(bool first, DWORD& error) {
        const DWORD openMode =
            PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
        const DWORD pipeMode =
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
        HANDLE h = CreateNamedPipeW(name.c_str(), openMode, pipeMode, PIPE_UNLIMITED_INSTANCES,
                                    64 * 1024, 64 * 1024, 0, &attributes);
        error = h == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
        return h;
    }
};

namespace {

// Admin: SYSTEM or (elevated) Administrators. Read-only: the configured group. The impersonation
// lasts only for OpenThreadToken; the membership checks use the token afterwards.
std::optional<PeerIdentity> checkPipeClient(HANDLE pipe, const std::vector<BYTE>& readOnlySid,
                                            std::string& refusal) {
    ULONG pid = 0;
    GetNamedPipeClientProcessId(pipe, &pid);
    if (!ImpersonateNamedPipeClient(pipe)) {
        refusal = "cannot identify the client: " + errorText(GetLastError());
        return std::nullopt;
    }
    HANDLE token = nullptr;
    const BOOL opened = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
    const DWORD openError = GetLastError();
    if (!RevertToSelf()) {
        // Going on would serve every later client with this client's identity.
        logging::log(logging::Level::Error, "control: RevertToSelf failed: %s; aborting",
                     errorText(GetLastError()).c_str());
        std::abort();
    }
    if (!opened) {
        refusal = "cannot open the client's token: " + errorText(openError);
        return std::nullopt;
    }

    PeerIdentity peer;
    std::vector<BYTE> userBuffer(256);
    DWORD needed = 0;
    if (!GetTokenInformation(token, TokenUser, userBuffer.data(),
                             static_cast<DWORD>(userBuffer.size()), &needed) &&
        needed > userBuffer.size()) {
        userBuffer.resize(needed);
        GetTokenInformation(token, TokenUser, userBuffer.data(), needed, &needed);
    }
    const auto* user = reinterpret_cast<const TOKEN_USER*>(userBuffer.data());
    peer.identity = (user->User.Sid ? accountName(user->User.Sid) : std::string("unknown")) +
                    " pid " + std::to_string(pid);

    auto member = [&](PSID sid) {
        BOOL isMember = FALSE;
        return sid && CheckTokenMembership(token, sid, &isMember) && isMember;
    };
    BYTE system[SECURITY_MAX_SID_SIZE];
    BYTE admins[SECURITY_MAX_SID_SIZE];
    DWORD systemSize = sizeof system;
    DWORD adminsSize = sizeof admins;
    const bool haveSystem = CreateWellKnownSid(WinLocalSystemSid, nullptr, system, &systemSize);
    const bool haveAdmins =
        CreateWellKnownSid(WinBuiltinAdministratorsSid, nullptr, admins, &adminsSize);
    std::optional<PeerIdentity> out;
    if ((haveSystem && member(system)) || (haveAdmins && member(admins))) {
        peer.role = Role::Admin;
        out = peer;
    } else if (!readOnlySid.empty() &&
               member(const_cast<PSID>(static_cast<const void*>(readOnlySid.data())))) {
        peer.role = Role::ReadOnly;
        out = peer;
    } else {
        refusal = peer.identity + " is neither an administrator nor in the read-only group";
    }
    CloseHandle(token);
    return out;
}

auto asyncConnect(asio::windows::stream_handle& pipe) {
    return asio::async_initiate<decltype(detail::kNoThrow), void(asio::error_code)>(
        [&pipe](auto handler) {
            asio::windows::overlapped_ptr overlapped(
                pipe.get_executor(),
                [handler = std::move(handler)](asio::error_code ec, std::size_t) mutable {
                    std::move(handler)(ec);
                });
            const BOOL ok = ConnectNamedPipe(pipe.native_handle(), overlapped.get());
            const DWORD error = ok ? ERROR_SUCCESS : GetLastError();
            if (!ok && error == ERROR_PIPE_CONNECTED) {
                // The client came between CreateNamedPipe and ConnectNamedPipe: no packet follows.
                overlapped.complete(asio::error_code(), 0);
            } else if (!ok && error != ERROR_IO_PENDING) {
                overlapped.complete(
                    asio::error_code(static_cast<int>(error), asio::system_category()), 0);
            } else {
                overlapped.release();  // the completion packet arrives through the IOCP
            }
        },
        detail::kNoThrow);
}

asio::awaitable<void> pipeListener(std::shared_ptr<ControlServer::Impl> server, HANDLE next) {
    auto& state = *server->pipes;
    asio::steady_timer backoff(server->io);
    while (!server->shutDown) {
        if (next == INVALID_HANDLE_VALUE) {
            DWORD error = 0;
            next = state.createInstance(false, error);
            if (next == INVALID_HANDLE_VALUE) {
                logging::log(logging::Level::Warn, "control: cannot create a pipe instance: %s",
                             errorText(error).c_str());
                backoff.expires_after(std::chrono::seconds(1));
                co_await backoff.async_wait(detail::kNoThrow);
                continue;
            }
        }
        asio::windows::stream_handle pipe(server->io);
        asio::error_code assignError;
        pipe.assign(next, assignError);
        if (assignError) {
            CloseHandle(next);
            next = INVALID_HANDLE_VALUE;
            logging::log(logging::Level::Error, "control: cannot use a pipe instance: %s",
                         assignError.message().c_str());
            backoff.expires_after(std::chrono::seconds(1));
            co_await backoff.async_wait(detail::kNoThrow);
            continue;
        }
        next = INVALID_HANDLE_VALUE;  // owned by `pipe` now
        state.waiting.insert(&pipe);
        auto [ec] = co_await asyncConnect(pipe);
        state.waiting.erase(&pipe);
        if (server->shutDown) co_return;
        if (ec) {
            logging::log(logging::Level::Debug, "control: pipe connect failed: %s",
                         ec.message().c_str());
            continue;
        }
        std::string refusal;
        auto peer = checkPipeClient(pipe.native_handle(), state.readOnlySid, refusal);
        server->admit(std::move(pipe), std::move(peer), refusal);
    }
    if (next != INVALID_HANDLE_VALUE) CloseHandle(next);
}

}  // namespace

std::optional<std::string> ControlServer::Impl::openEndpoint() {
    const std::string prefix = "\\\\.\\pipe\\";
    if (options.endpoint.size() <= prefix.size() ||
        _strnicmp(options.endpoint.c_str(), prefix.c_str(), prefix.size()) != 0) {
        return "control endpoint " + options.endpoint + " is not a pipe name (\\\\.\\pipe\\NAME)";
    }
    auto state = std::make_shared<PipeState>();
    state->name = widen(options.endpoint);

    std::wstring sddl = L"D:P(A;;GA;;;SY)(A;;GA;;;BA)";
    if (!options.readOnlyGroup.empty()) {
        const std::wstring account = widen(options.readOnlyGroup);
        DWORD sidSize = 0;
        DWORD domainSize = 0;
        SID_NAME_USE use;
        LookupAccountNameW(nullptr, account.c_str(), nullptr, &sidSize, nullptr, &domainSize, &use);
        std::vector<BYTE> sid(sidSize ? sidSize : 1);
        std::wstring domain(domainSize ? domainSize : 1, L'\0');
        if (!sidSize || !LookupAccountNameW(nullptr, account.c_str(), sid.data(), &sidSize,
                                            domain.data(), &domainSize, &use)) {
            return "read-only group " + options.readOnlyGroup +
                   " was not found: " + errorText(GetLastError());
        }
        wchar_t* sidText = nullptr;
        if (!ConvertSidToStringSidW(sid.data(), &sidText)) {
            return "cannot format the SID of " + options.readOnlyGroup;
        }
        sddl += L"(A;;" + std::wstring(kReadOnlyRights) + L";;;" + sidText + L")";
        LocalFree(sidText);
        state->readOnlySid = std::move(sid);
    }
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                              &state->descriptor, nullptr)) {
        return "cannot build the pipe's security descriptor: " + errorText(GetLastError());
    }
    state->attributes.nLength = sizeof(SECURITY_ATTRIBUTES);
    state->attributes.lpSecurityDescriptor = state->descriptor;
    state->attributes.bInheritHandle = FALSE;

    // The first instance claims the name: if another server has it, we fail here rather than
    // queue up behind it (and nobody can pre-create the name to intercept our clients).
    DWORD error = 0;
    HANDLE first = state->createInstance(true, error);
    if (first == INVALID_HANDLE_VALUE) {
        if (error == ERROR_ACCESS_DENIED || error == ERROR_PIPE_BUSY)
            return "another server already owns " + options.endpoint;
        return "cannot create " + options.endpoint + ": " + errorText(error);
    }
    pipes = state;
    for (int i = 0; i < kListeningInstances; ++i) {
        asio::co_spawn(io, pipeListener(shared_from_this(), i == 0 ? first : INVALID_HANDLE_VALUE),
                       [](std::exception_ptr e) { detail::logStray(e, "pipe listener"); });
    }
    return std::nullopt;
}

void ControlServer::Impl::closeEndpoint() {
    if (!pipes) return;
    auto waiting = pipes->waiting;  // closing completes the waits, which edit the set
    for (auto* pipe : waiting) {
        asio::error_code ignored;
        pipe->close(ignored);
    }
}

}  // namespace proxy::control

#endif  // _WIN32
