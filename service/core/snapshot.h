#pragma once
// A config compiled for the data path: routes, upstream groups and filter chains. Immutable once
// built and shared by every worker; a reload builds a new one and swaps it in. Requests keep the
// snapshot they started with until they finish.

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "http/h1_parser.h"
#include "routing/router.h"
#include "security/edge_state.h"
#include "security/ip_set.h"
#include "upstream/upstream_group.h"

namespace proxy::cache { class Cache; }
namespace proxy::tls {
class ServerTls;
}

namespace proxy::core {

struct Snapshot {
    std::shared_ptr<const config::Config> config;
    std::uint64_t version = 0;
    http::H1Limits limits;
    std::vector<std::unique_ptr<upstream::UpstreamGroup>> upstreams;
    std::vector<std::unique_ptr<routing::CompiledRoute>> routes;
    std::unique_ptr<routing::Router> router;
    std::vector<std::unique_ptr<filter::Filter>> ownedFilters;
    std::vector<filter::Filter*> globalFilters;  // not owned; run before the route's own filters
    unsigned globalPhases = 0;                   // union of the global filters' phase bits
    security::IpSet trustedProxies;              // exempt from the per-client connection limit
    security::EdgeState* edge = nullptr;  // not owned (the engine's); null in tests without one
    // TLS termination by listener name (a listener without "tls" is absent). Sessions hold the
    // shared_ptr for their life, so a reload never pulls a context from under a connection.
    std::vector<std::pair<std::string, std::shared_ptr<const tls::ServerTls>>> listenerTls;
    // What the snapshot builder found worth telling (certificates near expiry, ...).
    std::vector<std::string> warnings;

    upstream::UpstreamGroup* findUpstream(std::string_view name) const;
    const std::shared_ptr<const tls::ServerTls>* findListenerTls(std::string_view listener) const;
};

// Compiles a validated config. Fails (with a sentence) only on what validation cannot know, such
// as a feature this build lacks.
// `tail` are process-wide filters owned by the caller (the access log): they end the global chain,
// so their Log hooks run after every other filter's, and they must outlive every snapshot.
// `names` gives the addresses of servers configured by DNS name (the runtime's NameResolver);
// without it they are looked up synchronously. A name with no address yet has no servers.
// `edge` (the engine's, outliving every snapshot) keeps rate-limit buckets and bans across
// versions; without it each snapshot has fresh buckets and no bans.
// `cache` is the process-wide HTTP cache routes with "cache" enabled use (it must outlive every
// snapshot too); without one such a route is refused.
std::expected<std::shared_ptr<const Snapshot>, std::string> buildSnapshot(
    std::shared_ptr<const config::Config> config, std::uint64_t version, unsigned workers,
    std::span<filter::Filter* const> tail = {}, const upstream::AddressSource& names = {},
    security::EdgeState* edge = nullptr, cache::Cache* cache = nullptr);

}  // namespace proxy::core
