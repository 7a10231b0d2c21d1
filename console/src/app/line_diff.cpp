#include "app/line_diff.h"

#include <algorithm>

namespace proxy::console {

std::vector<DiffLine> diffLines(const QStringList& a, const QStringList& b) {
    const qsizetype n = a.size(), m = b.size();
    qsizetype head = 0;
    while (head < n && head < m && a[head] == b[head]) ++head;
    qsizetype tail = 0;
    while (tail < n - head && tail < m - head && a[n - 1 - tail] == b[m - 1 - tail]) ++tail;

    std::vector<DiffLine> out;
    out.reserve(static_cast<std::size_t>(std::max(n, m)));
    for (qsizetype i = 0; i < head; ++i) out.push_back({DiffLine::Kind::Same, a[i]});

    const qsizetype an = n - head - tail, bm = m - head - tail;
    if (static_cast<long long>(an + 1) * (bm + 1) > kMaxDiffCells) {
        for (qsizetype i = 0; i < an; ++i) out.push_back({DiffLine::Kind::Removed, a[head + i]});
        for (qsizetype j = 0; j < bm; ++j) out.push_back({DiffLine::Kind::Added, b[head + j]});
    } else {
        // lcs[i][j]: the LCS length of a[head+i..] and b[head+j..].
        const std::size_t cols = static_cast<std::size_t>(bm + 1);
        std::vector<int> lcs(static_cast<std::size_t>(an + 1) * cols, 0);
        auto cell = [&](qsizetype i, qsizetype j) -> int& {
            return lcs[static_cast<std::size_t>(i) * cols + static_cast<std::size_t>(j)];
        };
        for (qsizetype i = an - 1; i >= 0; --i)
            for (qsizetype j = bm - 1; j >= 0; --j)
                cell(i, j) = a[head + i] == b[head + j] ? cell(i + 1, j + 1) + 1
                                                        : std::max(cell(i + 1, j), cell(i, j + 1));
        qsizetype i = 0, j = 0;
        while (i < an || j < bm) {
            if (i < an && j < bm && a[head + i] == b[head + j]) {
                out.push_back({DiffLine::Kind::Same, a[head + i]});
                ++i;
                ++j;
            } else if (i < an && (j == bm || cell(i + 1, j) >= cell(i, j + 1))) {
                // Removals first on a tie, as diff(1) prints them.
                out.push_back({DiffLine::Kind::Removed, a[head + i]});
                ++i;
            } else {
                out.push_back({DiffLine::Kind::Added, b[head + j]});
                ++j;
            }
        }
    }
    for (qsizetype i = n - tail; i < n; ++i) out.push_back({DiffLine::Kind::Same, a[i]});
    return out;
}

DiffSummary summarize(const std::vector<DiffLine>& lines) {
    DiffSummary s;
    for (const auto& l : lines) {
        if (l.kind == DiffLine::Kind::Added) ++s.added;
        if (l.kind == DiffLine::Kind::Removed) ++s.removed;
    }
    return s;
}

QString unifiedDiff(const QString& before, const QString& after, const QString& beforeName,
                    const QString& afterName, int context) {
    auto split = [](const QString& text) {
        QStringList lines = text.split(QLatin1Char('\n'));
        if (!lines.isEmpty() && lines.back().isEmpty()) lines.removeLast();
        return lines;
    };
    const std::vector<DiffLine> lines = diffLines(split(before), split(after));
    if (!summarize(lines).changed()) return {};

    QString out = QStringLiteral("--- %1\n+++ %2\n").arg(beforeName, afterName);
    const auto count = static_cast<qsizetype>(lines.size());
    // Line numbers (1-based) of each diff line in the old and new text.
    std::vector<int> oldNo(lines.size()), newNo(lines.size());
    int o = 1, nn = 1;
    for (qsizetype k = 0; k < count; ++k) {
        oldNo[static_cast<std::size_t>(k)] = o;
        newNo[static_cast<std::size_t>(k)] = nn;
        if (lines[static_cast<std::size_t>(k)].kind != DiffLine::Kind::Added) ++o;
        if (lines[static_cast<std::size_t>(k)].kind != DiffLine::Kind::Removed) ++nn;
    }
    qsizetype k = 0;
    while (k < count) {
        if (lines[static_cast<std::size_t>(k)].kind == DiffLine::Kind::Same) {
            ++k;
            continue;
        }
        // A hunk: from `context` lines before this change to `context` lines after the last change
        // that is within 2*context of the previous one.
        const qsizetype start = std::max<qsizetype>(0, k - context);
        qsizetype end = k;
        qsizetype lastChange = k;
        while (end < count) {
            if (lines[static_cast<std::size_t>(end)].kind != DiffLine::Kind::Same)
                lastChange = end;
            else if (end - lastChange > 2 * context)
                break;
            ++end;
        }
        end = std::min(count, lastChange + context + 1);
        int oldLen = 0, newLen = 0;
        for (qsizetype x = start; x < end; ++x) {
            if (lines[static_cast<std::size_t>(x)].kind != DiffLine::Kind::Added) ++oldLen;
            if (lines[static_cast<std::size_t>(x)].kind != DiffLine::Kind::Removed) ++newLen;
        }
        out += QStringLiteral("@@ -%1,%2 +%3,%4 @@\n")
                   .arg(oldLen ? oldNo[static_cast<std::size_t>(start)]
                               : oldNo[static_cast<std::size_t>(start)] - 1)
                   .arg(oldLen)
                   .arg(newLen ? newNo[static_cast<std::size_t>(start)]
                               : newNo[static_cast<std::size_t>(start)] - 1)
                   .arg(newLen);
        for (qsizetype x = start; x < end; ++x) {
            const auto& l = lines[static_cast<std::size_t>(x)];
            const QChar mark = l.kind == DiffLine::Kind::Same    ? QLatin1Char(' ')
                               : l.kind == DiffLine::Kind::Added ? QLatin1Char('+')
                                                                 : QLatin1Char('-');
            out += mark + l.text + QLatin1Char('\n');
        }
        k = end;
    }
    return out;
}

}  // namespace proxy::console
