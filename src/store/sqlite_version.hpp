// The oldest SQLite library relaylink's schema runs on, checked when a file is opened (the library a
// process loads may be older than the headers it was built with).
#pragma once

#include <optional>
#include <string>

namespace relaylink::store::sqlite_version {

/// 3.31.0: generated columns (schema 1's is_open). Every later migration uses only what 3.31 has
/// (ADD COLUMN, CREATE/DROP INDEX, UPDATE), never DROP COLUMN (3.35).
constexpr int oldest = 3031000;

/// "3.26.0" from SQLite's version number (3026000).
inline std::string text(int number) {
    return std::to_string(number / 1000000) + "." + std::to_string(number / 1000 % 1000) + "." + std::to_string(number % 1000);
}

/// 3.35.0: INSERT … RETURNING, which the rows mirrored into a portal's table are written with.
constexpr int for_portal_table = 3035000;

/// Why a library of version `number` cannot do `what`, which needs `least` (`because`); none when it can.
inline std::optional<std::string> too_old(int number, int least, const std::string& what, const std::string& because,
                                          const std::string& ways_out) {
    if (number >= least) return std::nullopt;
    return what + " needs SQLite " + text(least) + " or newer (" + because + "), and this process loaded SQLite " + text(number) + ": " +
           ways_out;
}

/// Why a library of version `number` cannot run relaylink's schema; none when it can.
inline std::optional<std::string> problem(int number) {
    return too_old(number, oldest, "relaylink", "its schema has generated columns",
                   "install a newer libsqlite3, or use the wheel, which carries its own");
}

/// Why a library of version `number` cannot mirror commands into a portal's table; none when it can.
inline std::optional<std::string> portal_problem(int number) {
    return too_old(number, for_portal_table, "mirroring commands into the portal's table", "INSERT ... RETURNING",
                   "install a newer libsqlite3, use the wheel, which carries its own, or open the store without the portal table");
}

} // namespace relaylink::store::sqlite_version
