#pragma once
// Opening the service's control endpoint as a client, shared by proxyctl and the console so both
// open the named pipe the same way (docs/control-protocol.md).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace proxy::control {

// The full pipe path for a Windows endpoint as an admin writes it: "\\.\pipe\" is added unless
// it is there already (in any case), so "proxy-control" and "\\.\pipe\proxy-control" name the
// same pipe. Pure, so it is tested on every platform.
std::string windowsPipePath(std::string_view endpoint);

#ifdef _WIN32
struct PipeOpenResult {
    std::intptr_t handle = -1;  // a HANDLE opened for overlapped I/O, or -1
    std::string error;          // why not, as a sentence naming the pipe
    bool timedOut = false;      // every pipe instance stayed busy until the deadline
};

// Opens the pipe the way the protocol asks: read data and write data only (GENERIC_WRITE would
// include FILE_CREATE_PIPE_INSTANCE, which the server's DACL withholds from the read-only group
// on purpose), identification-level impersonation (the server may check who we are but cannot act
// as us), overlapped, byte mode. Waits for a busy pipe until `deadline`.
PipeOpenResult openControlPipe(std::string_view endpoint, std::chrono::steady_clock::time_point deadline);
#endif

}  // namespace proxy::control
