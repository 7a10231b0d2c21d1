// The Unix-socket endpoint: folder and socket permissions, stale-socket cleanup, the accept loop
// and the SO_PEERCRED role check.
#ifndef _WIN32

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_channel/server_internal.h"

namespace proxy::control {

namespace {

using detail::PeerIdentity;

std::optional<gid_t> groupId(const std::string& name) {
    if (name.empty()) return std::nullopt;
    std::vector<char> buffer(16 * 1024);
    group entry{};
    group* found = nullptr;
    if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        return std::nullopt;
    return found->gr_gid;
}

struct UserInfo {
    std::string name;
    gid_t primaryGroup = 0;
    bool known = false;
};

UserInfo userInfo(uid_t uid) {
    std::vector<char> buffer(16 * 1024);
    passwd entry{};
    passwd* found = nullptr;
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return {};
    return UserInfo{found->pw_name, found->pw_gid, true};
}

// The peer's groups as the account database has them, plus the gid it connected with.
std::vector<gid_t> groupsOf(const UserInfo& user, gid_t connectedGid) {
    std::vector<gid_t> groups{connectedGid};
    if (!user.known) return groups;
    int count = 64;
    std::vector<gid_t> list(static_cast<std::size_t>(count));
    if (getgrouplist(user.name.c_str(), user.primaryGroup, list.data(), &count) < 0) {
        list.resize(static_cast<std::size_t>(count));
        if (getgrouplist(user.name.c_str(), user.primaryGroup, list.data(), &count) < 0) count = 0;
    }
    list.resize(static_cast<std::size_t>(std::max(count, 0)));
    groups.insert(groups.end(), list.begin(), list.end());
    return groups;
}

// Admin: root, the service's own uid, or the admin group. Read-only: the read-only group.
std::optional<PeerIdentity> checkPeer(int fd, uid_t ownerUid, std::optional<gid_t> adminGid,
                                      std::optional<gid_t> readOnlyGid, std::string& refusal) {
    ucred cred{};
    socklen_t length = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
        refusal = std::string("cannot read the peer's credentials: ") + std::strerror(errno);
        return std::nullopt;
    }
    const UserInfo user = userInfo(cred.uid);
    PeerIdentity peer;
    peer.identity = "uid " + std::to_string(cred.uid) +
                    (user.known ? " (" + user.name + ")" : std::string()) + " pid " +
                    std::to_string(cred.pid);
    if (cred.uid == 0 || cred.uid == ownerUid) {
        peer.role = Role::Admin;
        return peer;
    }
    const auto groups = groupsOf(user, cred.gid);
    auto member = [&](std::optional<gid_t> gid) {
        return gid && std::find(groups.begin(), groups.end(), *gid) != groups.end();
    };
    if (member(adminGid)) {
        peer.role = Role::Admin;
        return peer;
    }
    if (member(readOnlyGid)) {
        peer.role = Role::ReadOnly;
        return peer;
    }
    refusal = peer.identity + " is not in the admin or read-only group";
    return std::nullopt;
}

asio::awaitable<void> acceptLoop(std::shared_ptr<ControlServer::Impl> server) {
    auto& acceptor = *server->acceptor;
    const auto adminGid = groupId(server->options.adminGroup);
    const auto readOnlyGid = groupId(server->options.readOnlyGroup);
    asio::steady_timer backoff(acceptor.get_executor());
    while (!server->shutDown) {
        auto [ec, socket] = co_await acceptor.async_accept(detail::kNoThrow);
        if (server->shutDown) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            // EMFILE and friends: back off instead of spinning on a full descriptor table.
            logging::log(logging::Level::Warn, "control: accept failed: %s", ec.message().c_str());
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(detail::kNoThrow);
            continue;
        }
        std::string refusal;
        auto peer =
            checkPeer(socket.native_handle(), server->ownerUid, adminGid, readOnlyGid, refusal);
        server->admit(std::move(socket), std::move(peer), refusal);
    }
}

}  // namespace

std::optional<std::string> ControlServer::Impl::openEndpoint() {
    namespace fs = std::filesystem;
    const std::string& path = options.endpoint;
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        return "control endpoint " + path + " is longer than " +
               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
    }
    ownerUid = static_cast<std::uint32_t>(geteuid());
    const auto adminGid = groupId(options.adminGroup);
    if (!options.adminGroup.empty() && !adminGid) {
        logging::log(logging::Level::Warn,
                     "control: group %s does not exist; only root and uid %u can use %s",
                     options.adminGroup.c_str(), ownerUid, path.c_str());
    }
    const bool readOnlyAccess = !options.readOnlyGroup.empty();
    if (readOnlyAccess && !groupId(options.readOnlyGroup)) {
        logging::log(logging::Level::Warn, "control: read-only group %s does not exist",
                     options.readOnlyGroup.c_str());
    }

    // The folder: created 0750 with the admin group, so only the admin group reaches the socket.
    // A read-only group needs to reach it too: then others get search (x) permission and the
    // socket is 0666, and SO_PEERCRED is what admits or refuses (file modes can name one group).
    const fs::path socketPath(path);
    const fs::path folder = socketPath.has_parent_path() ? socketPath.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::exists(folder, ec)) {
        if (folder.has_parent_path()) fs::create_directories(folder.parent_path(), ec);
        if (::mkdir(folder.c_str(), readOnlyAccess ? 0751 : 0750) != 0 && errno != EEXIST) {
            return "cannot create " + folder.string() + ": " + std::strerror(errno);
        }
        ::chmod(folder.c_str(), readOnlyAccess ? 0751 : 0750);  // mkdir honours the umask
        if (adminGid && ::chown(folder.c_str(), static_cast<uid_t>(-1), *adminGid) != 0) {
            logging::log(logging::Level::Warn, "control: cannot give %s to group %s: %s",
                         folder.c_str(), options.adminGroup.c_str(), std::strerror(errno));
        }
    }

    // A leftover socket from a crash is removed, but only if it is a socket nobody answers on:
    // never delete a regular file, and never steal a running server's endpoint.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return path + " exists and is not a socket";
        asio::local::stream_protocol::socket probe(io);
        asio::error_code probeError;
        probe.connect(asio::local::stream_protocol::endpoint(path), probeError);
        if (!probeError) return "another server is already listening on " + path;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return "cannot remove the stale socket " + path + ": " + std::strerror(errno);
        }
        logging::log(logging::Level::Info, "control: removed stale socket %s", path.c_str());
    }

    acceptor.emplace(io);
    asio::error_code error;
    const asio::local::stream_protocol::endpoint endpoint(path);
    acceptor->open(endpoint.protocol(), error);
    if (!error) acceptor->bind(endpoint, error);
    if (!error) {
        socketCreated = true;
        acceptor->listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) {
        closeEndpoint();
        return "cannot listen on " + path + ": " + error.message();
    }
    if (::chmod(path.c_str(), readOnlyAccess ? 0666 : 0660) != 0) {
        const std::string why = std::strerror(errno);
        closeEndpoint();
        return "cannot set the mode of " + path + ": " + why;
    }
    if (adminGid && ::chown(path.c_str(), static_cast<uid_t>(-1), *adminGid) != 0) {
        logging::log(logging::Level::Warn, "control: cannot give %s to group %s: %s", path.c_str(),
                     options.adminGroup.c_str(), std::strerror(errno));
    }
    struct stat bound {};
    if (::lstat(path.c_str(), &bound) == 0) {
        socketDevice = static_cast<std::uint64_t>(bound.st_dev);
        socketInode = static_cast<std::uint64_t>(bound.st_ino);
    }
    asio::co_spawn(io, acceptLoop(shared_from_this()),
                   [](std::exception_ptr e) { detail::logStray(e, "accept loop"); });
    return std::nullopt;
}

void ControlServer::Impl::closeEndpoint() {
    if (acceptor) {
        asio::error_code ignored;
        acceptor->close(ignored);
    }
    if (socketCreated) {
        // Only our own socket: if another process replaced it meanwhile, it is not ours to remove.
        struct stat st {};
        if (::lstat(options.endpoint.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
            static_cast<std::uint64_t>(st.st_dev) == socketDevice &&
            static_cast<std::uint64_t>(st.st_ino) == socketInode)
            ::unlink(options.endpoint.c_str());
        socketCreated = false;
    }
}

}  // namespace proxy::control

#endif  // !_WIN32
