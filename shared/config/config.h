#pragma once
// The configuration model: one JSON document, validated once into an immutable snapshot.
// Everything here is plain data; shared/ has no Qt and no asio. The service turns a Config into its
// runtime objects, the console edits the JSON and runs the same validator before it sends anything.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace proxy::config {

// "127.0.0.1:80", "[::1]:8080", "0.0.0.0:8080", and for upstream servers also "app.local:80".
struct HostPort {
    enum class Kind : std::uint8_t { IPv4, IPv6, Name };
    Kind kind = Kind::IPv4;
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 0;

    std::string toString() const;  // IPv6 comes back bracketed
    friend bool operator==(const HostPort&, const HostPort&) = default;
};

// An address range for allow/deny/trusted lists: "10.0.0.0/8", "2001:db8::/32", or one address
// ("203.0.113.7" is /32). IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one 128-bit space
// holds both and an IPv4 client seen on a dual-stack socket matches IPv4 ranges.
struct Cidr {
    std::array<std::uint8_t, 16> bytes{};  // the network address (host bits zero)
    std::uint8_t prefix = 128;             // in the 128-bit space: IPv4 /8 is 104
    std::string text;                      // as written, for diagnostics and the serializer
    friend bool operator==(const Cidr&, const Cidr&) = default;
};

struct RateLimit {
    // What a bucket belongs to: the client address (the default), the value of a request header
    // or cookie (keyName; a request without it falls back to its client address), or the whole
    // route (one bucket shared by every client of the scope).
    enum class Key : std::uint8_t { Client, Header, Cookie, Route };
    std::uint32_t requestsPerSecond = 0;  // 0 = no limit (lets a route switch the global one off)
    std::uint32_t burst = 0;              // bucket size; 0 = requestsPerSecond
    Key key = Key::Client;
    std::string keyName;  // Header: the field name; Cookie: the cookie name
    friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

// CRS rules switched off for requests whose path starts with pathPrefix (a false positive fix).
struct WafExclusion {
    std::string pathPrefix;
    std::vector<std::uint32_t> rules;  // CRS rule ids
    friend bool operator==(const WafExclusion&, const WafExclusion&) = default;
};

struct Waf {
    enum class Mode : std::uint8_t { Off, Detect, Block };
    enum class OverLimit : std::uint8_t { Reject, InspectPartial };
    Mode mode = Mode::Off;
    std::uint32_t paranoia = 1;  // 1..4 (OWASP CRS paranoia level)
    // Request body bytes held back and inspected before any is forwarded (0 = bodies are not
    // inspected). Past it: Reject answers 413, InspectPartial decides on the first bytes and
    // forwards the rest uninspected.
    std::uint32_t requestBodyLimit = 1u << 20;
    OverLimit overLimit = OverLimit::Reject;
    std::vector<std::uint32_t> excludeRules;  // CRS rule ids switched off everywhere
    std::vector<WafExclusion> exclusions;     // ... or under a path prefix
    std::string crsPath;  // the CRS folder (holding rules/*.conf); empty = the build's default
    friend bool operator==(const Waf&, const Waf&) = default;
};

// security.min_body_rate: a request body must keep arriving at least this fast. The client gets
// `grace` plus one second per bytesPerSecond bytes received (time spent waiting on the client
// only); falling behind gets 408 and a ban strike (docs/security.md).
struct MinBodyRate {
    std::uint32_t bytesPerSecond = 0;  // 0 = no minimum (lets a route switch the global one off)
    std::chrono::milliseconds grace{5'000};
    friend bool operator==(const MinBodyRate&, const MinBodyRate&) = default;
};

// The request-level security settings. At the top level they are the defaults; a route's own
// object overrides them key by key (a key the route leaves out is inherited).
struct SecurityPolicy {
    std::optional<std::vector<Cidr>> allow;  // non-empty: only these (minus deny) are let in
    std::optional<std::vector<Cidr>> deny;
    std::optional<RateLimit> rateLimit;      // per client address (or per key)
    std::optional<Waf> waf;
    std::optional<MinBodyRate> minBodyRate;
    bool empty() const { return !allow && !deny && !rateLimit && !waf && !minBodyRate; }
    friend bool operator==(const SecurityPolicy&, const SecurityPolicy&) = default;
};

// Temporary bans for clients that trip the limits again and again (security.bans).
struct BanPolicy {
    std::uint32_t strikes = 0;  // refusals within window that ban a client; 0 = no bans
    std::chrono::milliseconds window{60'000};
    std::chrono::milliseconds ban{60'000};        // the first ban; each next one is twice as long
    std::chrono::milliseconds maxBan{3'600'000};  // ... up to this
    std::uint32_t maxClients = 10'000;            // addresses tracked at once (bounded memory)
    friend bool operator==(const BanPolicy&, const BanPolicy&) = default;
};

struct SecurityConfig {
    SecurityPolicy policy;
    // Peers whose X-Forwarded-For is believed: the client is the right-most address in it that
    // is not itself a trusted proxy. From anyone else X-Forwarded-For is ignored.
    std::vector<Cidr> trustedProxies;
    std::uint32_t connectionsPerClient = 0;  // concurrent, by peer address; 0 = unlimited
    std::uint32_t connectionsTotal = 0;      // concurrent, over every listener; 0 = unlimited
    BanPolicy bans;
    std::uint32_t requestsPerConnection = 0;  // then the connection is closed; 0 = unlimited
    friend bool operator==(const SecurityConfig&, const SecurityConfig&) = default;
};

struct ControlConfig {
    std::string endpoint;  // Unix socket path, or \\.\pipe\NAME on Windows
    std::string readOnlyGroup;  // optional: a group granted the read-only role
    friend bool operator==(const ControlConfig&, const ControlConfig&) = default;
};

struct LoggingConfig {
    std::string database;     // SQLite access log
    std::string accessLogFile;  // JSON-lines access log (optional; the sink when SQLite is absent)
    std::string errorLogFile;   // levelled error/event log (optional)
    std::string level = "info";  // error, warn, info, debug
    std::uint32_t retentionDays = 14;     // access-log rows older than this are deleted (0 = keep)
    std::uint32_t maxDbMb = 1024;         // access-log database size cap (0 = none)
    std::uint32_t queueSize = 8192;       // records between the data path and the log writer
    std::uint32_t accessLogMaxMb = 100;   // JSON-lines rotation size (0 = never rotate)
    std::uint32_t accessLogKeepFiles = 5; // rotated JSON-lines files kept
    std::uint32_t errorLogMaxMb = 10;     // error log rotation size (0 = never rotate)
    std::uint32_t errorLogKeepFiles = 5;  // rotated error log files kept
    std::string metricsListen;            // "ip:port" of the Prometheus /metrics listener ("" = off)
    friend bool operator==(const LoggingConfig&, const LoggingConfig&) = default;
};

struct Limits {
    std::uint32_t maxRequestLine = 8 * 1024;     // bytes; over it: 414
    std::uint32_t maxHeaderBytes = 64 * 1024;    // whole header section; over it: 431
    std::uint32_t maxHeaders = 100;              // header fields; over it: 431
    std::uint64_t maxBodyBytes = 100ull << 20;   // request body; over it: 413 (0 = unlimited)
    friend bool operator==(const Limits&, const Limits&) = default;
};

struct Timeouts {
    std::chrono::milliseconds header{10'000};            // client must finish the header section
    std::chrono::milliseconds clientIdle{60'000};        // keep-alive idle, and body inactivity
    std::chrono::milliseconds upstreamConnect{5'000};
    std::chrono::milliseconds upstreamResponse{60'000};  // inactivity while waiting on the origin
    std::chrono::milliseconds tunnelIdle{300'000};       // WebSocket / Upgrade tunnels
    std::chrono::milliseconds shutdown{10'000};          // graceful drain bound
    friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct ForwardedHeaders {
    bool xForwarded = true;  // X-Forwarded-For, -Proto, -Host
    bool via = true;
    bool forwarded = false;  // RFC 7239
    friend bool operator==(const ForwardedHeaders&, const ForwardedHeaders&) = default;
};

// ---- TLS (docs/tls.md) ----
// One certificate of a listener: PEM files (the certificate followed by its chain, and the
// private key; they may be one file) or a PKCS#12 / PFX bundle with its password.
struct TlsCertificate {
    std::string cert;
    std::string key;
    std::string pfx;
    std::string password;  // of the PFX (may be empty)
    std::string ocspResponse;  // DER OCSP response file to staple ("" = none; docs/tls.md)
    friend bool operator==(const TlsCertificate&, const TlsCertificate&) = default;
};

// OCSP stapling fetched by the service from each certificate's responder (docs/tls.md). Applies
// to the listener's certificates that name an http:// responder and have no ocsp_response file.
struct OcspFetch {
    bool fetch = true;                          // false: staple only configured response files
    std::chrono::milliseconds timeout{10'000};  // one fetch: connect, request, whole answer
    std::chrono::seconds refresh{3600};         // the longest a good response goes unrefreshed
    std::optional<HostPort> proxy;              // an HTTP proxy to reach the responders through
    friend bool operator==(const OcspFetch&, const OcspFetch&) = default;
};

// TLS termination on a listener. The certificate is chosen by the client's SNI against the names
// the certificates carry (exact names before wildcards); the first certificate is the default.
struct ListenerTls {
    std::vector<TlsCertificate> certificates;  // at least one
    std::string minVersion = "1.2";            // "1.2" or "1.3"; older versions are never offered
    std::string ciphers;       // TLS 1.2 cipher list in OpenSSL syntax; "" = the built-in default
    std::string ciphersuites;  // TLS 1.3 suites in OpenSSL syntax; "" = OpenSSL's default
    std::chrono::milliseconds handshakeTimeout{10'000};
    // mTLS: with clientCa set, clients present a certificate issued by one of these CAs.
    std::string clientCa;                 // PEM CA bundle; "" = no client certificates asked for
    bool clientCertRequired = true;       // false: asked for, optional, verified when given
    std::string clientSubjectHeader = "X-Client-Cert-Subject";  // the subject, to the upstream
    // Session tickets: a new key every period, the previous one still accepted (docs/tls.md).
    std::chrono::seconds ticketKeyRotation{3600};
    OcspFetch ocsp;  // fetching OCSP responses to staple
    friend bool operator==(const ListenerTls&, const ListenerTls&) = default;
};

struct Listener {
    std::string name;
    HostPort address;
    std::optional<ListenerTls> tls;  // absent = plain HTTP
    friend bool operator==(const Listener&, const Listener&) = default;
};

struct Server {
    HostPort address;
    std::uint32_t weight = 1;
    std::uint32_t maxConnections = 0;  // 0 = unlimited
    friend bool operator==(const Server&, const Server&) = default;
};

enum class Balance : std::uint8_t { RoundRobin, LeastConnections, IpHash, Hash };

struct HealthCheck {
    std::string method = "GET";
    std::string path = "/health";
    std::uint16_t expectStatusMin = 200;
    std::uint16_t expectStatusMax = 399;
    std::string expectBody;  // optional substring
    std::chrono::milliseconds interval{2'000};
    std::chrono::milliseconds timeout{1'000};
    std::uint32_t rise = 2;
    std::uint32_t fall = 3;
    friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

// Passive health: the data path's own outcomes eject a server. A server is ejected after
// `failures` consecutive connect/transport failures or `status5xx` consecutive 5xx answers (0 turns
// either count off). The ejection lasts `eject`, doubling for each ejection that follows within
// `maxEject` of the server's return, up to `maxEject`.
struct PassiveCheck {
    std::uint32_t failures = 3;
    std::uint32_t status5xx = 0;
    std::chrono::seconds eject{10};
    std::chrono::seconds maxEject{300};
    friend bool operator==(const PassiveCheck&, const PassiveCheck&) = default;
};

// What `"balance": "hash"` hashes: one request header, one cookie, or the path.
struct HashKey {
    enum class Kind : std::uint8_t { None, Header, Cookie, Path };
    Kind kind = Kind::None;
    std::string name;  // header or cookie name
    friend bool operator==(const HashKey&, const HashKey&) = default;
};

// Sticky sessions: the proxy names the server that answered in a cookie, and later requests that
// carry it go to that server while it is available. The value is a keyed hash of the server's
// identity, never its address.
struct StickyCookie {
    std::string name = "PROXYSRV";
    std::string path = "/";
    bool httpOnly = true;
    bool secure = false;
    std::string sameSite = "Lax";  // "Strict", "Lax", "None" or "" (attribute left out)
    std::uint32_t maxAge = 0;      // seconds; 0 = a session cookie (no Max-Age)
    std::string secret;            // keys the hash; empty = a random key per service start
    friend bool operator==(const StickyCookie&, const StickyCookie&) = default;
};

// Requests that find every available server at max_connections wait here, instead of a 503.
struct UpstreamQueue {
    std::uint32_t size = 100;  // most requests waiting at once, over all workers
    std::chrono::milliseconds timeout{1'000};
    friend bool operator==(const UpstreamQueue&, const UpstreamQueue&) = default;
};

struct Keepalive {
    std::uint32_t maxIdle = 32;  // idle pooled connections per server and worker
    std::chrono::milliseconds idleTimeout{60'000};
    friend bool operator==(const Keepalive&, const Keepalive&) = default;
};

// TLS towards an upstream's servers (re-encryption).
struct UpstreamTls {
    bool verify = true;          // verify the server's certificate chain
    std::string ca;              // PEM CA bundle; "" = the system's trust store
    std::string serverName;      // SNI and the name checked; "" = the server's host
    bool verifyHostname = true;  // check the certificate names the server (needs verify)
    bool sni = true;             // send the server name in the handshake
    std::string cert;            // optional client certificate (PEM) for servers that demand one
    std::string key;
    friend bool operator==(const UpstreamTls&, const UpstreamTls&) = default;
};

struct Upstream {
    std::string name;
    Balance balance = Balance::RoundRobin;
    std::vector<Server> servers;
    Keepalive keepalive;
    std::optional<HealthCheck> healthCheck;
    std::optional<PassiveCheck> passive;  // absent = passive ejection off
    std::chrono::seconds slowStart{0};    // weight ramp after a server returns; 0 = none
    HashKey hashKey;                      // required by Balance::Hash, refused otherwise
    std::optional<StickyCookie> sticky;
    std::optional<UpstreamQueue> queue;  // absent = a full upstream answers 503 at once
    std::uint32_t retries = 0;
    // Servers given by DNS name are resolved again this often (off the data path). Every address a
    // name resolves to becomes a server; a failed lookup keeps the last good set.
    std::chrono::seconds resolveInterval{30};
    std::optional<UpstreamTls> tls;  // absent = plain HTTP to the servers
    friend bool operator==(const Upstream&, const Upstream&) = default;
};

struct HeaderRules {
    // Values may use variables: ${client_ip}, ${client_port}, ${request_id}, ${host}, ${scheme}.
    std::vector<std::pair<std::string, std::string>> set;  // replace (or add when absent)
    std::vector<std::pair<std::string, std::string>> add;  // append another field
    std::vector<std::string> remove;
    bool empty() const { return set.empty() && add.empty() && remove.empty(); }
    friend bool operator==(const HeaderRules&, const HeaderRules&) = default;
};

struct Match {
    std::string host = "*";        // "example.com", "*.example.com" or "*"
    std::string pathPrefix;        // at most one of pathPrefix, pathExact, pathRegex is set
    std::string pathExact;
    std::string pathRegex;         // ECMAScript, matched against the whole path
    std::vector<std::string> methods;  // empty = any
    std::vector<std::pair<std::string, std::string>> headers;  // name -> exact value ("" = present)
    friend bool operator==(const Match&, const Match&) = default;
};

struct PathRewrite {
    std::string stripPrefix;
    std::string regex;    // replace the first match of regex in the path with replacement
    std::string replacement;
    friend bool operator==(const PathRewrite&, const PathRewrite&) = default;
};

// Response compression (docs/configuration.md, "compression"). The top-level object gives the
// defaults; a route's own object starts from them and overrides only the keys it names, so a
// loaded Route always holds its effective settings.
struct Compression {
    bool enabled = false;
    // Media types to compress, lower case, without parameters: "text/html", or "text/*" for a
    // whole top-level type.
    std::vector<std::string> types = defaultTypes();
    std::uint64_t minSize = 1024;  // bytes; a response with a smaller Content-Length stays as is
    std::uint32_t level = 6;       // zlib level: 1 fastest .. 9 smallest
    // Content codings offered, in the proxy's order of preference when the client's q-values tie.
    std::vector<std::string> formats = {"gzip", "deflate"};

    static std::vector<std::string> defaultTypes();
    friend bool operator==(const Compression&, const Compression&) = default;
};

// HTTP cache (docs/cache.md). The top-level "cache" object sizes the storage every route shares;
// a route's own "cache" object turns caching on for it and holds its rules.
struct CacheStorage {
    std::uint64_t memoryMb = 256;         // memory store byte budget (LRU eviction)
    std::uint64_t maxObjectKb = 8192;     // larger responses pass through uncached
    // How long a request waits for another request's fill of the same key (collapsed
    // forwarding) before it goes to the origin itself.
    std::chrono::milliseconds collapseTimeout{5000};
    // The disk store (docs/cache.md): off unless "disk" is given. An empty path means the OS
    // default (%ProgramData%\proxy\cache, /var/cache/proxy).
    bool diskEnabled = false;
    std::string diskPath;
    std::uint64_t diskMaxMb = 4096;
    friend bool operator==(const CacheStorage&, const CacheStorage&) = default;
};

// A TTL that replaces the origin's freshness for matching responses (never makes a private or
// no-store response storable). Empty fields match everything.
struct CacheTtlRule {
    std::string pathPrefix;
    std::string contentType;  // "image/png" or "image/*", lower case, no parameters
    std::uint64_t seconds = 0;
    friend bool operator==(const CacheTtlRule&, const CacheTtlRule&) = default;
};

struct RouteCache {
    bool enabled = false;
    // Freshness for a storable response that states none (no max-age, s-maxage, Expires): used
    // instead of the heuristic. 0 = the RFC 9111 heuristic (10% of the age of Last-Modified).
    std::uint64_t defaultTtlSeconds = 0;
    std::vector<CacheTtlRule> ttlOverrides;  // first match wins
    // Cache key (docs/cache.md, "The cache key").
    bool keyIgnoreQuery = false;                 // the whole query string leaves the key
    std::vector<std::string> keyQueryInclude;    // non-empty: only these parameters count
    std::vector<std::string> keyQueryIgnore;     // these parameters never count
    std::vector<std::string> keyHeaders;         // request headers added to the key
    std::vector<std::string> keyCookies;         // cookies added to the key
    // Bypass: a request carrying any of these goes to the origin and nothing is stored.
    std::vector<std::string> bypassCookies;
    std::vector<std::string> bypassHeaders;
    // Requests with Authorization are never answered from or stored in the cache unless this is
    // set; even then only responses RFC 9111 3.5 allows (public, s-maxage, must-revalidate).
    bool allowAuthorized = false;
    std::string tagHeader = "Cache-Tag";  // response header whose comma-separated tags purge by
    friend bool operator==(const RouteCache&, const RouteCache&) = default;
};

// A route's redirect of plain-HTTP requests to HTTPS (docs/tls.md, "HTTP to HTTPS"). Requests that
// arrived over TLS are proxied as usual.
struct HttpsRedirect {
    bool enabled = false;
    std::uint16_t port = 443;  // the HTTPS port in Location (omitted when 443)
    int status = 308;          // 301, 302, 307 or 308
    std::string host;          // "" = the request's Host (without its port)
    friend bool operator==(const HttpsRedirect&, const HttpsRedirect&) = default;
};

struct Route {
    std::string name;
    std::string listener;  // empty = every listener
    Match match;
    std::string upstream;
    PathRewrite rewrite;
    HeaderRules requestHeaders;
    HeaderRules responseHeaders;
    Compression compression;  // effective settings (the top-level defaults plus the route's own)
    SecurityPolicy security;  // overrides the top-level policy key by key
    RouteCache cache;
    HttpsRedirect redirectHttps;
    friend bool operator==(const Route&, const Route&) = default;
};

struct Config {
    unsigned workers = 0;  // 0 = one per core
    ControlConfig control;
    LoggingConfig logging;
    Limits limits;
    Timeouts timeouts;
    ForwardedHeaders forwarded;
    Compression compression;  // the defaults routes inherit
    SecurityConfig security;
    CacheStorage cache;
    std::vector<Listener> listeners;
    std::vector<Upstream> upstreams;
    std::vector<Route> routes;

    const Upstream* findUpstream(std::string_view name) const;
    const Listener* findListener(std::string_view name) const;
    friend bool operator==(const Config&, const Config&) = default;
};

// Platform defaults for paths (pipe name on Windows, /run/proxy/... on Linux).
struct PlatformDefaults {
    std::string configPath;
    std::string controlEndpoint;
    std::string logDatabase;
    static PlatformDefaults current();
};

}  // namespace proxy::config
