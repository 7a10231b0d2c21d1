// Compile-time guard: the Windows build must run asio on I/O completion ports. Without IOCP asio
// falls back to a select()-based reactor (64-socket limit, no AcceptEx/ConnectEx), which would
// build and even pass small tests while being unusable as a server.
#include <asio/detail/config.hpp>

#if !defined(ASIO_HAS_IOCP)
// Check _WIN32_WINNT (0x0A00 here) and that ASIO_DISABLE_IOCP is not defined.
#error "asio did not select I/O completion ports (ASIO_HAS_IOCP)"
#endif

namespace proxy::platform {
// Gives the translation unit a symbol, so no toolchain warns about an empty object file.
extern const bool kAsioUsesIocp = true;
}  // namespace proxy::platform
