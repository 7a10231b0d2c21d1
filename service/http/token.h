#pragma once
// RFC 9110 5.6.2 token characters ("tchar"): the one definition for every parser of header
// syntax (the HTTP/1.1 codec's character table, Accept-Encoding, media types).

namespace proxy::http {

constexpr bool isTokenChar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~': return true;
        default: return false;
    }
}

}  // namespace proxy::http
