#include "config_store/line_diff.h"

#include <algorithm>

namespace proxy::config_store {

std::vector<std::string_view> splitLines(std::string_view text) {
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        if (end == std::string_view::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

namespace {

// Myers over the middle part (common prefix/suffix already trimmed). Appends ops with indices
// offset by `base`. Returns false when the edit distance exceeds maxEdits.
bool myers(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b,
           std::size_t aBegin, std::size_t aEnd, std::size_t bBegin, std::size_t bEnd,
           std::size_t maxEdits, std::vector<DiffOp>& out) {
    const long n = static_cast<long>(aEnd - aBegin);
    const long m = static_cast<long>(bEnd - bBegin);
    const long limit = std::min<long>(n + m, static_cast<long>(maxEdits));
    auto A = [&](long i) { return a[aBegin + static_cast<std::size_t>(i)]; };
    auto B = [&](long j) { return b[bBegin + static_cast<std::size_t>(j)]; };

    const long offset = limit + 1;
    std::vector<long> v(static_cast<std::size_t>(2 * limit + 3), 0);
    auto V = [&](long k) -> long& { return v[static_cast<std::size_t>(k + offset)]; };
    // trace[d] holds V for k in [-d-1, d+1] as it was before step d: O(D^2) memory, not O(D*N).
    std::vector<long> trace;
    auto traceAt = [&](long d, long k) {
        const long base = d * d + 2 * d;
        return trace[static_cast<std::size_t>(base + k + d + 1)];
    };

    long found = -1;
    for (long d = 0; d <= limit && found < 0; ++d) {
        for (long k = -d - 1; k <= d + 1; ++k) trace.push_back(V(k));
        for (long k = -d; k <= d; k += 2) {
            long x = (k == -d || (k != d && V(k - 1) < V(k + 1))) ? V(k + 1) : V(k - 1) + 1;
            long y = x - k;
            while (x < n && y < m && A(x) == B(y)) {
                ++x;
                ++y;
            }
            V(k) = x;
            if (x >= n && y >= m) {
                found = d;
                break;
            }
        }
    }
    if (found < 0) return false;

    std::vector<DiffOp> reversed;
    long x = n;
    long y = m;
    for (long d = found; d >= 0; --d) {
        const long k = x - y;
        const bool down = k == -d || (k != d && traceAt(d, k - 1) < traceAt(d, k + 1));
        const long prevK = down ? k + 1 : k - 1;
        const long prevX = traceAt(d, prevK);
        const long prevY = prevX - prevK;
        while (x > prevX && y > prevY) {
            --x;
            --y;
            reversed.push_back({DiffOp::Kind::Equal, aBegin + static_cast<std::size_t>(x),
                                bBegin + static_cast<std::size_t>(y)});
        }
        if (d > 0) {
            if (down) {
                reversed.push_back({DiffOp::Kind::Insert, aBegin + static_cast<std::size_t>(x),
                                    bBegin + static_cast<std::size_t>(prevY)});
            } else {
                reversed.push_back({DiffOp::Kind::Delete, aBegin + static_cast<std::size_t>(prevX),
                                    bBegin + static_cast<std::size_t>(y)});
            }
        }
        x = prevX;
        y = prevY;
    }
    out.insert(out.end(), reversed.rbegin(), reversed.rend());
    return true;
}

}  // namespace

std::vector<DiffOp> diffLines(const std::vector<std::string_view>& a,
                              const std::vector<std::string_view>& b, std::size_t maxEdits) {
    std::vector<DiffOp> ops;
    std::size_t prefix = 0;
    while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
    std::size_t suffix = 0;
    while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
           a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
        ++suffix;
    }
    for (std::size_t i = 0; i < prefix; ++i) ops.push_back({DiffOp::Kind::Equal, i, i});

    const std::size_t aEnd = a.size() - suffix;
    const std::size_t bEnd = b.size() - suffix;
    if (!myers(a, b, prefix, aEnd, prefix, bEnd, maxEdits, ops)) {
        for (std::size_t i = prefix; i < aEnd; ++i)
            ops.push_back({DiffOp::Kind::Delete, i, prefix});
        for (std::size_t j = prefix; j < bEnd; ++j) ops.push_back({DiffOp::Kind::Insert, aEnd, j});
    }
    for (std::size_t i = 0; i < suffix; ++i) {
        ops.push_back({DiffOp::Kind::Equal, aEnd + i, bEnd + i});
    }
    return ops;
}

UnifiedDiff unifiedDiff(std::string_view oldText, std::string_view newText,
                        std::string_view oldName, std::string_view newName, std::size_t context) {
    UnifiedDiff out;
    const auto a = splitLines(oldText);
    const auto b = splitLines(newText);
    const auto ops = diffLines(a, b);

    std::vector<std::size_t> changes;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].kind == DiffOp::Kind::Delete) ++out.removed;
        if (ops[i].kind == DiffOp::Kind::Insert) ++out.added;
        if (ops[i].kind != DiffOp::Kind::Equal) changes.push_back(i);
    }
    if (changes.empty()) return out;

    out.text.append("--- ").append(oldName).append("\n+++ ").append(newName).append("\n");
    std::size_t c = 0;
    while (c < changes.size()) {
        // Grow the hunk while the next change is close enough for the contexts to touch.
        std::size_t last = c;
        while (last + 1 < changes.size() && changes[last + 1] - changes[last] <= 2 * context + 1) {
            ++last;
        }
        const std::size_t begin = changes[c] > context ? changes[c] - context : 0;
        const std::size_t end = std::min(ops.size(), changes[last] + 1 + context);

        std::size_t oldBefore = 0;
        std::size_t newBefore = 0;
        for (std::size_t i = 0; i < begin; ++i) {
            if (ops[i].kind != DiffOp::Kind::Insert) ++oldBefore;
            if (ops[i].kind != DiffOp::Kind::Delete) ++newBefore;
        }
        std::size_t oldCount = 0;
        std::size_t newCount = 0;
        for (std::size_t i = begin; i < end; ++i) {
            if (ops[i].kind != DiffOp::Kind::Insert) ++oldCount;
            if (ops[i].kind != DiffOp::Kind::Delete) ++newCount;
        }
        // Unified format: an empty range names the line before it.
        const std::size_t oldStart = oldCount ? oldBefore + 1 : oldBefore;
        const std::size_t newStart = newCount ? newBefore + 1 : newBefore;
        out.text += "@@ -" + std::to_string(oldStart) + "," + std::to_string(oldCount) + " +" +
                    std::to_string(newStart) + "," + std::to_string(newCount) + " @@\n";
        for (std::size_t i = begin; i < end; ++i) {
            switch (ops[i].kind) {
                case DiffOp::Kind::Equal:
                    out.text.append(" ").append(a[ops[i].a]);
                    break;
                case DiffOp::Kind::Delete:
                    out.text.append("-").append(a[ops[i].a]);
                    break;
                case DiffOp::Kind::Insert:
                    out.text.append("+").append(b[ops[i].b]);
                    break;
            }
            out.text.push_back('\n');
        }
        c = last + 1;
    }
    return out;
}

}  // namespace proxy::config_store
