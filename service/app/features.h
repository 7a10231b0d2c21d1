#pragma once
// What this binary can do, feature by feature, for --version and the control channel's status.
// A feature is listed as what it really is in this build: built, not built (a build option), or
// not implemented yet. Nothing is reported that the code does not do.

#include <string>
#include <utility>
#include <vector>

namespace proxy::app {

// (feature, state) pairs, e.g. ("tls", "not implemented yet").
std::vector<std::pair<std::string, std::string>> featureList();

// The executable says which allocator it was linked with (main.cpp), before featureList is used.
void setAllocatorDescription(std::string description);

}  // namespace proxy::app
