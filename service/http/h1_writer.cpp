#include "http/h1_writer.h"

#include <cassert>
#include <cstring>

namespace proxy::http {

namespace {

std::size_t fieldsSize(const HeaderList& headers) {
    std::size_t n = 2;  // the empty line
    for (const auto& f : headers.fields()) n += f.name.size() + f.value.size() + 4;
    return n;
}

char* put(char* w, std::string_view s) {
    if (!s.empty()) std::memcpy(w, s.data(), s.size());
    return w + s.size();
}

char* putFields(char* w, const HeaderList& headers) {
    for (const auto& f : headers.fields()) {
        w = put(w, f.name);
        *w++ = ':';
        *w++ = ' ';
        w = put(w, f.value);
        *w++ = '\r';
        *w++ = '\n';
    }
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

// Appends exactly `size` bytes that write(char*) produces, growing the string once. (One pass of
// memcpy instead of four appends per field: heads are written twice per proxied request.)
template <class Write>
void appendExact(std::string& out, std::size_t size, Write&& write) {
    const std::size_t old = out.size();
    out.resize_and_overwrite(old + size, [&](char* p, std::size_t) {
        [[maybe_unused]] char* const end = write(p + old);
        assert(end == p + old + size);
        return old + size;
    });
}

}  // namespace

void writeRequestHead(const RequestHead& h, std::string& out) {
    const std::string_view method = h.methodText.empty() ? methodName(h.method) : h.methodText;
    const std::size_t size = method.size() + 1 + h.target.size() + 11 + fieldsSize(h.headers);
    appendExact(out, size, [&](char* w) {
        w = put(w, method);
        *w++ = ' ';
        w = put(w, h.target);
        w = put(w, " HTTP/1.1\r\n");
        return putFields(w, h.headers);
    });
}

void writeResponseHead(const ResponseHead& h, std::string& out) {
    const std::string_view reason = h.reason.empty() ? reasonPhrase(h.status) : h.reason;
    // Status codes are three digits; clamp anything else so the line stays well-formed.
    const int status = (h.status >= 100 && h.status <= 999) ? h.status : 500;
    const std::size_t size = 9 + 3 + 1 + reason.size() + 2 + fieldsSize(h.headers);
    appendExact(out, size, [&](char* w) {
        w = put(w, "HTTP/1.1 ");
        *w++ = static_cast<char>('0' + status / 100);
        *w++ = static_cast<char>('0' + status / 10 % 10);
        *w++ = static_cast<char>('0' + status % 10);
        *w++ = ' ';
        w = put(w, reason);
        *w++ = '\r';
        *w++ = '\n';
        return putFields(w, h.headers);
    });
}

std::string_view reasonPhrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 103:
            return "Early Hints";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 203:
            return "Non-Authoritative Information";
        case 204:
            return "No Content";
        case 205:
            return "Reset Content";
        case 206:
            return "Partial Content";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 305:
            return "Use Proxy";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 407:
            return "Proxy Authentication Required";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Content";
        case 425:
            return "Too Early";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 451:
            return "Unavailable For Legal Reasons";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        case 506:
            return "Variant Also Negotiates";
        case 507:
            return "Insufficient Storage";
        case 508:
            return "Loop Detected";
        case 510:
            return "Not Extended";
        case 511:
            return "Network Authentication Required";
        default:
            return {};
    }
}

void writeChunkHeader(std::size_t n, std::string& out) {
    char buf[2 * sizeof(std::size_t) + 2];
    char* end = buf + sizeof(buf);
    char* p = end;
    *--p = '\n';
    *--p = '\r';
    do {
        *--p = "0123456789abcdef"[n & 0xf];
        n >>= 4;
    } while (n != 0);
    out.append(p, static_cast<std::size_t>(end - p));
}

}  // namespace proxy::http
