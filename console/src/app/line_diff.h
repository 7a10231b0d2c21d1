#pragma once
// A line diff for showing a config change before it is applied (the service's config.diff only
// compares stored versions, not a candidate). Common head and tail are trimmed, the middle gets an
// LCS; a middle too large for the LCS table (over kMaxCells) is shown as removed-then-added, so the
// cost stays bounded whatever the input.

#include <QString>
#include <QStringList>
#include <vector>

namespace proxy::console {

struct DiffLine {
    enum class Kind { Same, Removed, Added };
    Kind kind = Kind::Same;
    QString text;
};

inline constexpr long long kMaxDiffCells = 4'000'000;

std::vector<DiffLine> diffLines(const QStringList& before, const QStringList& after);

struct DiffSummary {
    int added = 0;
    int removed = 0;
    bool changed() const { return added + removed > 0; }
};
DiffSummary summarize(const std::vector<DiffLine>& lines);

// Unified diff text (---/+++ headers, @@ hunks with `context` lines around each change); empty
// when there is no change.
QString unifiedDiff(const QString& before, const QString& after, const QString& beforeName,
                    const QString& afterName, int context = 3);

}  // namespace proxy::console
